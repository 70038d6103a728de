#!/usr/bin/env python3
"""The peers of bench/train_vs_peers.py: the same training steps in PyTorch or TensorFlow.

Run by train_vs_peers.py, one process per (system, threads), each timing every
configuration it is given and printing one JSON line per configuration:
  {"system": "torch", "config": "mlp_b32_sgd", "threads": 1, "examples_per_s": 12345.6}

Shapes (the same as bench/train_bench.cpp):
  mlp_b{32,256}_{sgd,adam}: MLP 784-256-256-10 (ReLU), softmax cross-entropy.
  wd_b512_{adagrad,adam}: wide & deep: 13 dense features and 26 categorical ids hashed into
    10,000 buckets each; deep part: 26 embeddings of 16 dims concatenated with the dense
    features, MLP 429-512-256-1 (ReLU); wide part: a linear weight per (feature, bucket)
    summed, plus a bias; sigmoid cross-entropy on the sum of both logits.
Inputs are random (a fixed pool of batches made before timing), as the speed of a step
does not depend on the values.
"""
import argparse
import json
import os
import sys
import time

MLP_SIZES = (784, 256, 256, 10)
WD_DENSE, WD_CATS, WD_BUCKETS, WD_DIM = 13, 26, 10000, 16
POOL = 16  # batches made ahead


def parse_config(name):
    kind, b, opt = name.split("_")
    return kind, int(b[1:]), opt


def timed(step, seconds, warmup=10):
    for _ in range(warmup):
        step()
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 5:
            return n / elapsed


def run_torch(configs, threads, seconds):
    import torch
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    out = []
    for name in configs:
        kind, batch, opt = parse_config(name)
        if kind == "mlp":
            a, h1, h2, c = MLP_SIZES
            model = torch.nn.Sequential(torch.nn.Linear(a, h1), torch.nn.ReLU(),
                                        torch.nn.Linear(h1, h2), torch.nn.ReLU(),
                                        torch.nn.Linear(h2, c))
            xs = [torch.randn(batch, a) for _ in range(POOL)]
            ys = [torch.randint(0, c, (batch,)) for _ in range(POOL)]
            loss_fn = torch.nn.CrossEntropyLoss()
            params = list(model.parameters())
            optim = (torch.optim.SGD(params, lr=0.01) if opt == "sgd"
                     else torch.optim.Adam(params, lr=1e-3))
            i = [0]

            def step():
                k = i[0] % POOL
                i[0] += 1
                optim.zero_grad(set_to_none=True)
                loss = loss_fn(model(xs[k]), ys[k])
                loss.backward()
                optim.step()
        else:
            # Sparse embedding gradients where the optimizer supports them (Adagrad);
            # Adam on sparse gradients needs SparseAdam for the tables.
            sparse = True
            emb = torch.nn.ModuleList(torch.nn.Embedding(WD_BUCKETS, WD_DIM, sparse=sparse)
                                      for _ in range(WD_CATS))
            wide = torch.nn.ModuleList(torch.nn.Embedding(WD_BUCKETS, 1, sparse=sparse)
                                       for _ in range(WD_CATS))
            deep = torch.nn.Sequential(torch.nn.Linear(WD_DENSE + WD_CATS * WD_DIM, 512),
                                       torch.nn.ReLU(), torch.nn.Linear(512, 256),
                                       torch.nn.ReLU(), torch.nn.Linear(256, 1))
            bias = torch.nn.Parameter(torch.zeros(1))
            dense_x = [torch.randn(batch, WD_DENSE) for _ in range(POOL)]
            ids = [torch.randint(0, WD_BUCKETS, (batch, WD_CATS)) for _ in range(POOL)]
            labels = [torch.randint(0, 2, (batch, 1)).float() for _ in range(POOL)]
            table_params = list(emb.parameters()) + list(wide.parameters())
            dense_params = list(deep.parameters()) + [bias]
            if opt == "adagrad":
                optims = [torch.optim.Adagrad(table_params + dense_params, lr=0.01)]
            else:
                optims = [torch.optim.SparseAdam(table_params, lr=1e-3),
                          torch.optim.Adam(dense_params, lr=1e-3)]
            loss_fn = torch.nn.BCEWithLogitsLoss()
            i = [0]

            def step():
                k = i[0] % POOL
                i[0] += 1
                for o in optims:
                    o.zero_grad(set_to_none=True)
                idk = ids[k]
                feats = [dense_x[k]] + [emb[j](idk[:, j]) for j in range(WD_CATS)]
                logit = deep(torch.cat(feats, dim=1))
                logit = logit + sum(wide[j](idk[:, j]) for j in range(WD_CATS)) + bias
                loss = loss_fn(logit, labels[k])
                loss.backward()
                for o in optims:
                    o.step()
        out.append((name, batch * timed(step, seconds)))
    return out


def run_tf(configs, threads, seconds):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.random.set_seed(0)
    out = []
    for name in configs:
        kind, batch, opt = parse_config(name)
        if kind == "mlp":
            a, h1, h2, c = MLP_SIZES
            model = tf.keras.Sequential([tf.keras.Input((a,)),
                                         tf.keras.layers.Dense(h1, activation="relu"),
                                         tf.keras.layers.Dense(h2, activation="relu"),
                                         tf.keras.layers.Dense(c)])
            xs = [tf.random.normal((batch, a)) for _ in range(POOL)]
            ys = [tf.random.uniform((batch,), 0, c, dtype=tf.int64) for _ in range(POOL)]
            loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            optim = (tf.keras.optimizers.SGD(0.01) if opt == "sgd"
                     else tf.keras.optimizers.Adam(1e-3))
            variables = model.trainable_variables

            @tf.function
            def train(x, y):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
                optim.apply_gradients(zip(tape.gradient(loss, variables), variables))
                return loss
            i = [0]

            def step():
                k = i[0] % POOL
                i[0] += 1
                train(xs[k], ys[k]).numpy()
        else:
            dense_in = tf.keras.Input((WD_DENSE,))
            ids_in = tf.keras.Input((WD_CATS,), dtype=tf.int64)
            embs = [tf.keras.layers.Embedding(WD_BUCKETS, WD_DIM) for _ in range(WD_CATS)]
            wides = [tf.keras.layers.Embedding(WD_BUCKETS, 1) for _ in range(WD_CATS)]
            cols = [ids_in[:, j] for j in range(WD_CATS)]
            deep_in = tf.keras.layers.Concatenate()([dense_in] + [embs[j](cols[j])
                                                                 for j in range(WD_CATS)])
            h = tf.keras.layers.Dense(512, activation="relu")(deep_in)
            h = tf.keras.layers.Dense(256, activation="relu")(h)
            deep_logit = tf.keras.layers.Dense(1)(h)
            wide_logit = tf.keras.layers.Add()([wides[j](cols[j]) for j in range(WD_CATS)])
            logit = tf.keras.layers.Add()([deep_logit, wide_logit])
            model = tf.keras.Model([dense_in, ids_in], logit)
            dense_x = [tf.random.normal((batch, WD_DENSE)) for _ in range(POOL)]
            ids = [tf.random.uniform((batch, WD_CATS), 0, WD_BUCKETS, dtype=tf.int64)
                   for _ in range(POOL)]
            labels = [tf.cast(tf.random.uniform((batch, 1), 0, 2, dtype=tf.int64), tf.float32)
                      for _ in range(POOL)]
            loss_fn = tf.keras.losses.BinaryCrossentropy(from_logits=True)
            optim = (tf.keras.optimizers.Adagrad(0.01) if opt == "adagrad"
                     else tf.keras.optimizers.Adam(1e-3))
            variables = model.trainable_variables

            @tf.function
            def train(d, c, y):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model([d, c], training=True))
                optim.apply_gradients(zip(tape.gradient(loss, variables), variables))
                return loss
            i = [0]

            def step():
                k = i[0] % POOL
                i[0] += 1
                train(dense_x[k], ids[k], labels[k]).numpy()
        out.append((name, batch * timed(step, seconds)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--system", choices=["torch", "tf"], required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--configs", default="mlp_b32_sgd,mlp_b32_adam,mlp_b256_sgd,mlp_b256_adam,"
                                        "wd_b512_adagrad,wd_b512_adam")
    p.add_argument("--seconds", type=float, default=1.5)
    a = p.parse_args()
    configs = a.configs.split(",")
    run = run_torch if a.system == "torch" else run_tf
    for name, eps in run(configs, a.threads, a.seconds):
        print(json.dumps({"system": a.system, "config": name, "threads": a.threads,
                          "examples_per_s": round(eps, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
