// CPU kernels of random_uniform, random_normal and truncated_normal (see Note [Random
// seeds] in runtime/ops/array_ops.cpp) on Philox 4x32-10 (Salmon, Moraes, Dror, Shaw:
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011), written from its description.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_kernels.hpp"

namespace troupe {


namespace {

// Philox 4x32-10: 10 rounds of two 32x32->64 multiplications on a 128-bit counter
// (c0, c1, c2, c3), with a 64-bit key (k0, k1) bumped by the Weyl constants after each
// round. One round: (c0, c1, c2, c3) <- (hi(m1 c2) ^ c1 ^ k0, lo(m1 c2),
// hi(m0 c0) ^ c3 ^ k1, lo(m0 c0)). Both implementations below were checked against
// Random123's known-answer vectors (counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c
// 9b00dbd8; all ones -> 408f276d 41c83b0e a20bc7c6 6d5451fd).
constexpr uint32_t philox_m0 = 0xD2511F53u, philox_m1 = 0xCD9E8D57u;
constexpr uint32_t philox_w0 = 0x9E3779B9u, philox_w1 = 0xBB67AE85u;

// Block j of attempt t of run r is philox(counter {lo(j), hi(j), t, r}, key): a pure
// function of its position, so any split of the work among threads gives the same values.
struct stream {
  uint32_t k0 = 0, k1 = 0;
  uint32_t run = 0;
};

// Blocks per batch: the unit of parallel work and of the vectorized transforms. Every
// batch is computed whole (also the last one), so a value never depends on the tensor's
// size or on which thread computed it.
constexpr int batch_blocks = 32;
constexpr int batch_words = 4 * batch_blocks;

// The words of blocks [j0, j0 + batch_blocks) of `attempt`, word-major: word w of block
// j0 + l is out[w * batch_blocks + l]. The values of a batch are made from these words
// in this order (a fixed permutation of the blocks' words).
#if defined(__AVX512F__)
void philox_batch(const stream& s, uint64_t j0, uint32_t attempt, uint32_t* out) {
  // 16 counters per vector. _mm512_mul_epu32 multiplies the even 32-bit lanes into
  // 64-bit products; the odd lanes go through a 32-bit shift.
  const __m512i m0 = _mm512_set1_epi32(int(philox_m0)), m1 = _mm512_set1_epi32(int(philox_m1));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int h = 0; h < batch_blocks; h += 16) {
    const uint64_t jb = j0 + uint64_t(h);
    const __m512i base_lo = _mm512_set1_epi32(int(uint32_t(jb)));
    __m512i c0 = _mm512_add_epi32(base_lo, lane);
    const __mmask16 carry = _mm512_cmplt_epu32_mask(c0, base_lo);
    __m512i c1 = _mm512_set1_epi32(int(uint32_t(jb >> 32)));
    c1 = _mm512_mask_add_epi32(c1, carry, c1, _mm512_set1_epi32(1));
    __m512i c2 = _mm512_set1_epi32(int(attempt));
    __m512i c3 = _mm512_set1_epi32(int(s.run));
    uint32_t k0 = s.k0, k1 = s.k1;
    for (int r = 0; r < 10; ++r) {
      __m512i pe0 = _mm512_mul_epu32(c0, m0), po0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
      __m512i pe1 = _mm512_mul_epu32(c2, m1), po1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
      __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, pe0, _mm512_slli_epi64(po0, 32));
      __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe0, 32), po0);
      __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, pe1, _mm512_slli_epi64(po1, 32));
      __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe1, 32), po1);
      // 0x96: three-way xor.
      c0 = _mm512_ternarylogic_epi32(hi1, c1, _mm512_set1_epi32(int(k0)), 0x96);
      c2 = _mm512_ternarylogic_epi32(hi0, c3, _mm512_set1_epi32(int(k1)), 0x96);
      c1 = lo1;
      c3 = lo0;
      k0 += philox_w0;
      k1 += philox_w1;
    }
    _mm512_storeu_si512(out + 0 * batch_blocks + h, c0);
    _mm512_storeu_si512(out + 1 * batch_blocks + h, c1);
    _mm512_storeu_si512(out + 2 * batch_blocks + h, c2);
    _mm512_storeu_si512(out + 3 * batch_blocks + h, c3);
  }
}
#else
void philox_batch(const stream& s, uint64_t j0, uint32_t attempt, uint32_t* out) {
  uint32_t* c0 = out;
  uint32_t* c1 = out + batch_blocks;
  uint32_t* c2 = out + 2 * batch_blocks;
  uint32_t* c3 = out + 3 * batch_blocks;
  for (int l = 0; l < batch_blocks; ++l) {
    uint64_t j = j0 + uint64_t(l);
    c0[l] = uint32_t(j);
    c1[l] = uint32_t(j >> 32);
    c2[l] = attempt;
    c3[l] = s.run;
  }
  uint32_t k0 = s.k0, k1 = s.k1;
  for (int r = 0; r < 10; ++r) {
    for (int l = 0; l < batch_blocks; ++l) {  // independent lanes: vectorizable
      uint64_t p0 = uint64_t(philox_m0) * c0[l], p1 = uint64_t(philox_m1) * c2[l];
      uint32_t n0 = uint32_t(p1 >> 32) ^ c1[l] ^ k0, n2 = uint32_t(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = uint32_t(p1);
      c3[l] = uint32_t(p0);
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += philox_w0;
    k1 += philox_w1;
  }
}
#endif

// Uniform in [0, 1) from one word (float: 24 bits) or two words (double: 53 bits), and
// in (0, 1] for the logarithm of Box-Muller.
inline float unit_float(uint32_t w) { return float(w >> 8) * 0x1p-24f; }
inline double unit_double(uint32_t hi, uint32_t lo) {
  return double(((uint64_t(hi) << 32) | lo) >> 11) * 0x1p-53;
}

// Values per block: float uses each word, double a pair of words.
template <class T>
constexpr int per_block = sizeof(T) == 4 ? 4 : 2;

// Fills the values of one batch: element e of the batch is the e-th value of its blocks.
// `below` is the largest value below maxval (rounding may otherwise reach maxval).
template <class T>
void uniform_batch(const uint32_t* w, T lo, T range, T below, T* out) {
  if constexpr (sizeof(T) == 4) {
    for (int i = 0; i < batch_words; ++i) out[i] = std::min(lo + range * unit_float(w[i]), below);
  } else {
    for (int i = 0; i < batch_words / 2; ++i)
      out[i] = std::min(lo + range * unit_double(w[2 * i], w[2 * i + 1]), below);
  }
}

// sin(2 pi u) and cos(2 pi u) for u in [0, 1), branch-free so loops over it vectorize.
// The reduction is exact (u is a dyadic fraction): 4u = k + r with k an integer and
// r in [-1/2, 1/2], so the angle is k quarter turns plus a = r pi/2 in [-pi/4, pi/4],
// where Taylor polynomials are accurate to the last bit of T.
template <class T>
inline void sincos_turns(T u, T& sin_out, T& cos_out) {
  T v = T(4) * u;
  int k = int(v + T(0.5));
  T a = (v - T(k)) * T(std::numbers::pi / 2);
  T a2 = a * a;
  T s, c;
  if constexpr (sizeof(T) == 4) {
    s = a * (T(1) + a2 * (T(-1.0 / 6) + a2 * (T(1.0 / 120) + a2 * (T(-1.0 / 5040) +
                                                                   a2 * T(1.0 / 362880)))));
    c = T(1) + a2 * (T(-0.5) + a2 * (T(1.0 / 24) + a2 * (T(-1.0 / 720) +
                                                         a2 * (T(1.0 / 40320) +
                                                               a2 * T(-1.0 / 3628800)))));
  } else {
    // Taylor coefficients (-1)^n / (2n+1)! and (-1)^n / (2n)!, in Horner form.
    T ps = -1.0 / 1307674368000.0;
    ps = 1.0 / 6227020800.0 + a2 * ps;
    ps = -1.0 / 39916800 + a2 * ps;
    ps = 1.0 / 362880 + a2 * ps;
    ps = -1.0 / 5040 + a2 * ps;
    ps = 1.0 / 120 + a2 * ps;
    ps = -1.0 / 6 + a2 * ps;
    s = a * (1 + a2 * ps);
    T pc = 1.0 / 20922789888000.0;
    pc = -1.0 / 87178291200.0 + a2 * pc;
    pc = 1.0 / 479001600 + a2 * pc;
    pc = -1.0 / 3628800 + a2 * pc;
    pc = 1.0 / 40320 + a2 * pc;
    pc = -1.0 / 720 + a2 * pc;
    pc = 1.0 / 24 + a2 * pc;
    pc = -0.5 + a2 * pc;
    c = 1 + a2 * pc;
  }
  // Quarter turns: k = 1 maps (s, c) to (c, -s), 2 to (-s, -c), 3 to (-c, s).
  bool swap = (k & 1) != 0;
  T sv = swap ? c : s, cv = swap ? s : c;
  sin_out = (k & 2) ? -sv : sv;
  cos_out = ((k + 1) & 2) ? -cv : cv;
}

// Standard normals by Box-Muller: pair p of the batch gives elements 2p (r cos) and
// 2p+1 (r sin). Float takes a pair of words per pair of normals, double four.
template <class T>
void normal_batch(const uint32_t* w, T* out) {
  constexpr int pairs = batch_blocks * per_block<T> / 2;
  using array = Eigen::Array<T, pairs, 1>;
  array u1, u2;
  for (int p = 0; p < pairs; ++p) {
    if constexpr (sizeof(T) == 4) {
      u1[p] = float((w[2 * p] >> 8) + 1) * 0x1p-24f;  // (0, 1]
      u2[p] = unit_float(w[2 * p + 1]);
    } else {
      u1[p] = unit_double(w[4 * p], w[4 * p + 1]) + 0x1p-53;  // (0, 1]
      u2[p] = unit_double(w[4 * p + 2], w[4 * p + 3]);
    }
  }
  array r = (T(-2) * u1.log()).sqrt();
  alignas(64) T sn[pairs], cs[pairs];
  for (int p = 0; p < pairs; ++p) sincos_turns(u2[p], sn[p], cs[p]);
  for (int p = 0; p < pairs; ++p) {
    out[2 * p] = r[p] * cs[p];
    out[2 * p + 1] = r[p] * sn[p];
  }
}

enum class distribution { uniform, normal, truncated };

// FNV-1a: the key of an unseeded op, from its node's name.
uint64_t name_hash(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
  return h;
}

template <class T, distribution D>
class random_kernel {
 public:
  error init(const kernel_construction& c) {
    const partial_shape& s = c.attr<partial_shape>("shape");
    TROUPE_REQUIRE(s.fully_known(), "shape must be fully known when the op runs, got ",
                   s.to_string());
    shape_ = s.to_shape();
    int64_t seed = c.attr<int64_t>("seed");
    uint64_t key = seed != 0 ? uint64_t(seed) : name_hash(c.this_node().name);
    k0_ = uint32_t(key);
    k1_ = uint32_t(key >> 32);
    if constexpr (D == distribution::uniform) {
      a_ = c.attr<double>("minval");
      b_ = c.attr<double>("maxval") - c.attr<double>("minval");
    } else {
      a_ = c.attr<double>("mean");
      b_ = c.attr<double>("stddev");
    }
    return {};
  }

  error compute(kernel_context& ctx) const {
    tensor y = TROUPE_TRY(ctx.allocate_output(0, shape_));
    const stream s{k0_, k1_, uint32_t(runs_.fetch_add(1, std::memory_order_relaxed))};
    const int64_t n = y.num_elements();
    constexpr int64_t per_batch = int64_t(batch_blocks) * per_block<T>;
    const int64_t batches = (n + per_batch - 1) / per_batch;
    T* out = y.data<T>();
    const T a = T(a_), b = T(b_);
    // For uniform: the largest T below maxval (but not below minval).
    const T below = std::max(a, std::nextafter(T(a_ + b_), -std::numeric_limits<T>::infinity()));
    constexpr int64_t cost = D == distribution::uniform ? 40 * batch_blocks : 120 * batch_blocks;
    ctx.parallel_for(batches, cost, [&](int64_t begin, int64_t end) {
      alignas(64) uint32_t w[batch_words];
      alignas(64) T v[per_batch];
      for (int64_t i = begin; i < end; ++i) {
        const int64_t first = i * per_batch, count = std::min(per_batch, n - first);
        const uint64_t j0 = uint64_t(i) * batch_blocks;
        if constexpr (D == distribution::uniform) {
          philox_batch(s, j0, 0, w);
          uniform_batch<T>(w, a, b, below, v);
        } else {
          if constexpr (D == distribution::normal) {
            philox_batch(s, j0, 0, w);
            normal_batch<T>(w, v);
          } else {
            truncated_batch(s, j0, w, v);
          }
          for (int64_t k = 0; k < per_batch; ++k) v[k] = a + b * v[k];
        }
        std::copy(v, v + count, out + first);
      }
    });
    return {};
  }

 private:
  // Appends the z[k] with |z[k]| <= 2 to kept[filled..] (room for n more), in order;
  // returns the new count, at most n.
  static int keep_within_two(const T* z, int count, T* kept, int filled) {
    constexpr int n = batch_blocks * per_block<T>;
#if defined(__AVX512F__)
    constexpr int lanes = 64 / sizeof(T);
    for (int k = 0; k < count && filled < n; k += lanes) {
      if constexpr (sizeof(T) == 4) {
        __m512 v = _mm512_loadu_ps(z + k);
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(2.0f), _CMP_LE_OQ);
        _mm512_mask_compressstoreu_ps(kept + filled, m, v);
        filled += __builtin_popcount(m);
      } else {
        __m512d v = _mm512_loadu_pd(z + k);
        __mmask8 m = _mm512_cmp_pd_mask(_mm512_abs_pd(v), _mm512_set1_pd(2.0), _CMP_LE_OQ);
        _mm512_mask_compressstoreu_pd(kept + filled, m, v);
        filled += __builtin_popcount(m);
      }
    }
#else
    for (int k = 0; k < count && filled < n; ++k) {  // branch-free: rejections are random
      kept[filled] = z[k];
      filled += std::abs(z[k]) <= T(2);
    }
#endif
    return std::min(filled, n);
  }

  // The batch's values are the standard normals of attempt 0 of its blocks within 2
  // standard deviations, in order, then those of attempt 1, 2, ... until the batch is
  // full (about 95% are kept, so attempt 1 nearly always completes it).
  static void truncated_batch(const stream& s, uint64_t j0, uint32_t* w, T* v) {
    constexpr int n = batch_blocks * per_block<T>;
    alignas(64) T z[n];
    alignas(64) T kept[2 * n];
    int filled = 0;
    for (uint32_t attempt = 0; filled < n; ++attempt) {
      philox_batch(s, j0, attempt, w);
      normal_batch<T>(w, z);
      filled = keep_within_two(z, n, kept, filled);
    }
    std::copy(kept, kept + n, v);
  }

  tensor_shape shape_;
  uint32_t k0_ = 0, k1_ = 0;
  double a_ = 0, b_ = 1;  // minval and range, or mean and stddev
  mutable std::atomic<uint64_t> runs_{0};
};

template <class T>
using random_uniform_kernel = random_kernel<T, distribution::uniform>;
template <class T>
using random_normal_kernel = random_kernel<T, distribution::normal>;
template <class T>
using truncated_normal_kernel = random_kernel<T, distribution::truncated>;

}  // namespace

void register_random_kernels(kernel_registry& reg) {
  reg.add_for<random_uniform_kernel, float, double>("random_uniform", device_kind::cpu);
  reg.add_for<random_normal_kernel, float, double>("random_normal", device_kind::cpu);
  reg.add_for<truncated_normal_kernel, float, double>("truncated_normal", device_kind::cpu);
}

}  // namespace troupe
