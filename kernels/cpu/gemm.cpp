#include "kernels/cpu/gemm.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define TROUPE_PACKED_GEMM 1
#endif

// Note [CPU GEMM]
// gemm() splits C into at most dev.num_threads() rectangular blocks (see partition()) and
// runs one block per parallel_for index; every block is an independent serial product, so
// there is no synchronization besides parallel_for's own join, and results do not depend
// on how parallel_for schedules the indices.
//
// float on AVX-512 uses a packed kernel with the GotoBLAS/BLIS loop structure, transposed
// for row-major C (we vectorize along n, where C's rows are contiguous):
//
//   for ic in rows, step kMc:                      block of op(A) rows
//     for pc in 0..k, step kKc:
//       pack A~ = op(A)[ic.., pc..]  (kMc x kKc)     in panels of kMr rows, k-major
//       for jc in cols, step kNc:
//         pack B~ = op(B)[pc.., jc..] (kKc x kNc)   in panels of kNr cols, k-major; in L2
//         for ir in A~ panels:                     one A~ panel (kMr x kc) stays in L1
//           for jr in B~ panels:                   B~ panels stream from L2
//             micro_kernel: C[kMr x kNr] (+)= A~panel * B~panel, in 2*kMr zmm registers
//
// Edge panels are zero-padded when packed, so the micro-kernel always runs a full
// kMr x kNr product and only its stores are masked. Packing makes any transpose and any
// leading dimension look the same to the micro-kernel. C is read and written once per k
// block, by tiles whose 14 rows lie far apart: each call prefetches the next tile into L2
// and its own tile into L1 shortly before its stores (at n = 2048, dropping C's loads
// altogether was 5% faster than a plain next-tile L1 prefetch; this scheme gains ~3%).
// The packed buffers are per thread and kept between calls (thread_local, at most ~4.4
// MiB per thread), so steady-state calls do not allocate.
// Builds with AVX2 and FMA but no AVX-512 use the same loops (packed_block) with a 6 x 16
// micro-kernel of ymm registers (BLIS's Haswell shape) and plain-loop packing.
// Everything else (double, small or skinny products, builds without AVX2) goes through
// Eigen's GEMM, one call per block. Measured figures: docs/benchmarks.md.

namespace troupe::cpu {
namespace {

/// A block of C: rows [r0, r1), columns [c0, c1).
struct block {
  int64_t r0, r1, c0, c1;
};

/// Splits [0, size) into `parts` ranges whose boundaries are multiples of `unit` (except
/// the end) and returns the bounds of range `i`.
std::pair<int64_t, int64_t> split(int64_t size, int64_t unit, int64_t parts, int64_t i) {
  int64_t units = (size + unit - 1) / unit;
  int64_t b = std::min(size, units * i / parts * unit);
  int64_t e = std::min(size, units * (i + 1) / parts * unit);
  return {b, e};
}

/// The blocks of C that gemm() computes independently: a tm x tn grid, tm * tn = parts,
/// chosen so that blocks are as square as possible (each block packs its own rows of A
/// and columns of B, so square blocks duplicate the least packing).
struct partition {
  int64_t tm = 1, tn = 1;
  int64_t row_unit = 1, col_unit = 1;

  partition(int64_t m, int64_t n, int64_t parts, int64_t row_unit_, int64_t col_unit_)
      : row_unit(row_unit_), col_unit(col_unit_) {
    double best = std::numeric_limits<double>::max();
    for (int64_t t = 1; t <= parts; ++t) {
      if (parts % t != 0) continue;
      int64_t u = parts / t;
      if (t > (m + row_unit - 1) / row_unit || u > (n + col_unit - 1) / col_unit) continue;
      double bm = double(m) / double(t), bn = double(n) / double(u);
      double cost = bm > bn ? bm / bn : bn / bm;
      if (cost < best) best = cost, tm = t, tn = u;
    }
  }
  int64_t size() const { return tm * tn; }
  block at(int64_t m, int64_t n, int64_t i) const {
    auto [r0, r1] = split(m, row_unit, tm, i / tn);
    auto [c0, c1] = split(n, col_unit, tn, i % tn);
    return {r0, r1, c0, c1};
  }
};

/// How many blocks to split an m x n x k product into on a device of `threads` threads:
/// one per thread, but none smaller than 2^20 multiply-adds (~10 us on one core), so that
/// waking a pool thread (a few us) is worth it.
int64_t parts_for(int64_t m, int64_t n, int64_t k, int threads) {
  constexpr double min_work = double(1 << 20);
  double work = double(m) * double(n) * double(k);
  int64_t parts = int64_t(std::min(double(threads), std::max(1.0, work / min_work)));
  return std::max<int64_t>(1, parts);
}

template <class T>
using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using const_map = Eigen::Map<const row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using mut_map = Eigen::Map<row_major<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

/// The arguments of one gemm() call.
template <class T>
struct gemm_args {
  bool ta, tb;
  int64_t m, n, k;
  const T* a;
  int64_t lda;
  const T* b;
  int64_t ldb;
  T* c;
  int64_t ldc;
};

/// C[blk] = op(A)[blk rows, :] * op(B)[:, blk cols] with Eigen.
template <class T>
void eigen_block(const gemm_args<T>& g, const block& blk) {
  const int64_t rows = blk.r1 - blk.r0, cols = blk.c1 - blk.c0, k = g.k;
  mut_map<T> c(g.c + blk.r0 * g.ldc + blk.c0, rows, cols, Eigen::OuterStride<>(g.ldc));
  // op(A) rows [r0, r1): A's rows, or A^T's rows = A's columns.
  const T* a = g.ta ? g.a + blk.r0 : g.a + blk.r0 * g.lda;
  const T* b = g.tb ? g.b + blk.c0 * g.ldb : g.b + blk.c0;
  if (!g.ta) {
    const_map<T> am(a, rows, k, Eigen::OuterStride<>(g.lda));
    if (!g.tb) {
      c.noalias() = am * const_map<T>(b, k, cols, Eigen::OuterStride<>(g.ldb));
    } else {
      c.noalias() = am * const_map<T>(b, cols, k, Eigen::OuterStride<>(g.ldb)).transpose();
    }
  } else {
    const_map<T> am(a, k, rows, Eigen::OuterStride<>(g.lda));
    if (!g.tb) {
      c.noalias() = am.transpose() * const_map<T>(b, k, cols, Eigen::OuterStride<>(g.ldb));
    } else {
      c.noalias() =
          am.transpose() * const_map<T>(b, cols, k, Eigen::OuterStride<>(g.ldb)).transpose();
    }
  }
}

/// Runs `fn(block)` for every block of `p`, in parallel on the device.
template <class Fn>
void run_blocks(cpu_device& dev, const partition& p, int64_t m, int64_t n, int64_t k,
                const Fn& fn) {
  if (p.size() == 1) {
    fn(p.at(m, n, 0));
    return;
  }
  // Cost per block in cycles, assuming ~16 multiply-adds per cycle; saturated.
  double cycles = double(m) * double(n) * double(k) / double(p.size()) / 16.0;
  int64_t cost = int64_t(std::min(cycles, double(std::numeric_limits<int32_t>::max())));
  dev.parallel_for(p.size(), std::max<int64_t>(cost, 1), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(p.at(m, n, i));
  });
}

template <class T>
void eigen_gemm(cpu_device& dev, const gemm_args<T>& g) {
  partition p(g.m, g.n, parts_for(g.m, g.n, g.k, dev.num_threads()), 8, 16);
  run_blocks(dev, p, g.m, g.n, g.k, [&](const block& blk) { eigen_block(g, blk); });
}

#if defined(__AVX512F__)

// Register block of the micro-kernel: kMr rows x kNv zmm vectors (16 floats each) of C,
// 28 accumulators + 2 for the B~ row; the A~ values are broadcast from memory.
constexpr int kMr = 14;
constexpr int kNv = 2;
constexpr int kNr = 16 * kNv;
// Cache blocks: an A~ panel (kMr x kKc, 14 KiB) stays in L1; B~ (kKc x kNc, 384 KiB) in
// L2; A~ (up to kMc x kKc, 4 MiB) in L3. kMc is large so that B is packed only once for
// most products (B~ is packed again for every block of kMc rows).
constexpr int64_t kKc = 256;
constexpr int64_t kNc = 384;
constexpr int64_t kMc = kMr * 288;

#elif defined(TROUPE_PACKED_GEMM)

// AVX2 + FMA (16 ymm registers): kMr rows x kNv ymm vectors (8 floats each) of C, 12
// accumulators + 2 for the B~ row + 1 broadcast, as in BLIS's Haswell kernel. Cache
// blocks as above: an A~ panel (6 KiB) in L1, B~ (384 KiB) in L2, A~ (768 KiB) in L3.
constexpr int kMr = 6;
constexpr int kNv = 2;
constexpr int kNr = 8 * kNv;
constexpr int64_t kKc = 256;
constexpr int64_t kNc = 384;
constexpr int64_t kMc = kMr * 128;

#endif

#if defined(TROUPE_PACKED_GEMM)
// Floats A~'s buffer has beyond its last panel, for the AVX2 pack_a's overlapping stores.
constexpr int64_t kPackSlack = 8;
#endif

#if defined(TROUPE_PACKED_GEMM)

/// A float buffer aligned to 64 bytes that only grows.
/// Thread-safety: none; each thread owns its own (see thread_buffers()).
class scratch {
 public:
  float* get(int64_t size) {
    if (size > size_) {
      data_.reset(new (std::align_val_t(64)) float[size_t(size)]);
      size_ = size;
    }
    return data_.get();
  }

 private:
  struct aligned_delete {
    void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  std::unique_ptr<float[], aligned_delete> data_;
  int64_t size_ = 0;
};

/// Per-thread packing buffers, kept between calls so that steady-state calls do not
/// allocate (the pool threads live as long as their device).
struct pack_buffers {
  scratch a, b;
};

pack_buffers& thread_buffers() {
  thread_local pack_buffers buffers;
  return buffers;
}

int64_t round_up(int64_t x, int64_t unit) { return (x + unit - 1) / unit * unit; }

/// Prefetches the first `rows` rows of a C tile (kNr floats each, row stride ldc) with
/// locality `Hint` (_MM_HINT_T0: into L1, _MM_HINT_T1: into L2).
template <int Hint>
__attribute__((always_inline)) inline void prefetch_tile(const float* c, int64_t ldc,
                                                         int64_t rows) {
#pragma GCC unroll 32
  for (int i = 0; i < kMr; ++i) {
    if (i >= rows) break;
    // The row's last column may lie past the end of C: address arithmetic, not pointers.
    const uintptr_t row = reinterpret_cast<uintptr_t>(c + i * ldc);
    _mm_prefetch(reinterpret_cast<const char*>(row), _mm_hint(Hint));
    _mm_prefetch(reinterpret_cast<const char*>(row + (kNr - 1) * sizeof(float)), _mm_hint(Hint));
  }
}

#endif  // TROUPE_PACKED_GEMM

#if defined(__AVX512F__)

inline __mmask16 low_mask(int64_t count) {
  return count >= 16 ? __mmask16(0xffff) : __mmask16((1u << std::max<int64_t>(count, 0)) - 1);
}

/// Transposes 16 vectors: on return r[c] holds what was column c, r[c][i] = old r[i][c].
/// Four rounds of in-register shuffles (unpack pairs, unpack quads, swap 128-bit lanes
/// twice), 64 shuffles for 256 floats.
__attribute__((always_inline)) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // s[4g + j], 128-bit lane L: column 4L + j of rows 4g .. 4g+3.
  __m512 s[16];
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    s[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    s[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    s[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    s[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // Lane shuffles: 0x88 takes lanes (0, 2) of each operand, 0xdd lanes (1, 3).
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0x88);   // cols j, 8+j
    const __m512 u1 = _mm512_shuffle_f32x4(s[j], s[4 + j], 0xdd);   // cols 4+j, 12+j
    const __m512 u2 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0x88);
    const __m512 u3 = _mm512_shuffle_f32x4(s[8 + j], s[12 + j], 0xdd);
    r[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
  }
}

/// Transposes a rows x cols block (both <= 16) of src, row stride ld, into dst:
/// dst[c * dst_stride + i] = src[i * ld + c] for c < cols and the lanes of `store`;
/// lanes i >= rows are written as zero.
inline void transpose_block(const float* src, int64_t ld, int64_t rows, int64_t cols,
                            float* dst, int64_t dst_stride, __mmask16 store) {
  __m512 r[16];
  const __mmask16 load = low_mask(cols);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    r[i] = i < rows ? _mm512_maskz_loadu_ps(load, src + i * ld) : _mm512_setzero_ps();
  }
  transpose16(r);
  if (cols == 16) {
#pragma GCC unroll 16
    for (int c = 0; c < 16; ++c) _mm512_mask_storeu_ps(dst + c * dst_stride, store, r[c]);
  } else {
    for (int c = 0; c < cols; ++c) _mm512_mask_storeu_ps(dst + c * dst_stride, store, r[c]);
  }
}

/// Packs op(A)[r0 .. r0+mc, p0 .. p0+kc] into panels of kMr rows: dst[q][p][i] =
/// op(A)[r0 + q*kMr + i, p0 + p], rows past mc zero.
void pack_a(const gemm_args<float>& g, int64_t r0, int64_t mc, int64_t p0, int64_t kc,
            float* dst) {
  constexpr __mmask16 panel_mask = (1u << kMr) - 1;
  const int64_t lda = g.lda;  // a local: the stores below could alias g as far as GCC knows
  for (int64_t q = 0; q < mc; q += kMr, dst += kMr * kc) {
    const int64_t mr = std::min<int64_t>(kMr, mc - q);
    if (g.ta) {
      // op(A)[i, p] = A[p, i]: each k step is a contiguous run of mr floats.
      const __mmask16 mask = low_mask(mr);
      const float* src = g.a + p0 * lda + r0 + q;
      for (int64_t p = 0; p < kc; ++p) {
        _mm512_mask_storeu_ps(dst + p * kMr, panel_mask,
                              _mm512_maskz_loadu_ps(mask, src + p * lda));
      }
    } else {
      // mr rows, contiguous in p: transpose 16 columns at a time.
      const float* src = g.a + (r0 + q) * lda + p0;
      for (int64_t p = 0; p < kc; p += 16) {
        transpose_block(src + p, lda, mr, std::min<int64_t>(16, kc - p), dst + p * kMr, kMr,
                        panel_mask);
      }
    }
  }
}

/// Packs op(B)[p0 .. p0+kc, c0 .. c0+nc] into panels of kNr columns: dst[q][p][j] =
/// op(B)[p0 + p, c0 + q*kNr + j], columns past nc zero.
void pack_b(const gemm_args<float>& g, int64_t p0, int64_t kc, int64_t c0, int64_t nc,
            float* dst) {
  const int64_t ldb = g.ldb;
  for (int64_t q = 0; q < nc; q += kNr, dst += kNr * kc) {
    const int64_t nr = std::min<int64_t>(kNr, nc - q);
    if (!g.tb) {
      const float* src = g.b + p0 * ldb + c0 + q;
      if (nr == kNr) {
        for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 4
          for (int v = 0; v < kNv; ++v) {
            _mm512_store_ps(dst + p * kNr + 16 * v, _mm512_loadu_ps(src + p * ldb + 16 * v));
          }
        }
      } else {
        for (int64_t p = 0; p < kc; ++p) {
          for (int v = 0; v < kNv; ++v) {
            const __mmask16 mask = low_mask(nr - 16 * v);
            _mm512_store_ps(dst + p * kNr + 16 * v,
                            mask ? _mm512_maskz_loadu_ps(mask, src + p * ldb + 16 * v)
                                 : _mm512_setzero_ps());
          }
        }
      }
    } else {
      // op(B)[p, j] = B[j, p]: nr rows of B, contiguous in p; transpose 16 x 16 blocks.
      for (int v = 0; v < kNv; ++v) {
        const int64_t rows = std::clamp<int64_t>(nr - 16 * v, 0, 16);
        if (rows == 0) {
          for (int64_t p = 0; p < kc; ++p) {
            _mm512_store_ps(dst + p * kNr + 16 * v, _mm512_setzero_ps());
          }
          continue;
        }
        const float* src = g.b + (c0 + q + 16 * v) * ldb + p0;
        for (int64_t p = 0; p < kc; p += 16) {
          transpose_block(src + p, ldb, rows, std::min<int64_t>(16, kc - p),
                          dst + p * kNr + 16 * v, kNr, 0xffff);
        }
      }
    }
  }
}

/// acc += A~panel[p0 .. p1) * B~panel[p0 .. p1), one rank-1 update per k step.
__attribute__((always_inline)) inline void rank_updates(__m512 (&acc)[kMr][kNv],
                                                        const float* __restrict ap,
                                                        const float* __restrict bp, int64_t p0,
                                                        int64_t p1) {
  ap += p0 * kMr;
  bp += p0 * kNr;
  for (int64_t p = p0; p < p1; ++p) {
    __m512 bv[kNv];
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) bv[v] = _mm512_load_ps(bp + 16 * v);
#pragma GCC unroll 32
    for (int i = 0; i < kMr; ++i) {
      const __m512 av = _mm512_set1_ps(ap[i]);
#pragma GCC unroll 4
      for (int v = 0; v < kNv; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
    ap += kMr;
    bp += kNr;
  }
}

/// C[0..mr, 0..nr] (+)= A~panel * B~panel over kc steps; `accumulate` adds to C.
__attribute__((always_inline)) inline void micro_kernel(int64_t kc, const float* __restrict ap,
                                                        const float* __restrict bp, float* c,
                                                        int64_t ldc, int64_t mr, int64_t nr,
                                                        bool accumulate) {
  __m512 acc[kMr][kNv];
#pragma GCC unroll 32
  for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  // Bring the tile into L1 (from L2, where the previous call put it) some 1000 cycles
  // before the stores below. Not earlier: C's rows are a multiple of 4 KiB apart for
  // many shapes, so they share an L1 set and evict each other if fetched too soon.
  const int64_t tail = std::max<int64_t>(kc - 64, 0);
  rank_updates(acc, ap, bp, 0, tail);
  if (accumulate) prefetch_tile<_MM_HINT_T0>(c, ldc, mr);
  rank_updates(acc, ap, bp, tail, kc);
  if (mr == kMr && nr == kNr) {
#pragma GCC unroll 32
    for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < kNv; ++v) {
        float* cp = c + i * ldc + 16 * v;
        __m512 r = accumulate ? _mm512_add_ps(acc[i][v], _mm512_loadu_ps(cp)) : acc[i][v];
        _mm512_storeu_ps(cp, r);
      }
    }
  } else {
#pragma GCC unroll 32
    for (int i = 0; i < kMr; ++i) {
      if (i >= mr) break;
#pragma GCC unroll 4
      for (int v = 0; v < kNv; ++v) {
        const __mmask16 mask = low_mask(nr - 16 * v);
        if (mask == 0) break;
        float* cp = c + i * ldc + 16 * v;
        __m512 r = accumulate ? _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(mask, cp))
                              : acc[i][v];
        _mm512_mask_storeu_ps(cp, mask, r);
      }
    }
  }
}

#elif defined(TROUPE_PACKED_GEMM)

/// op(A)[i, p] and op(B)[p, j] of a product, whatever the transposes.
inline float op_a(const gemm_args<float>& g, int64_t i, int64_t p) {
  return g.ta ? g.a[p * g.lda + i] : g.a[i * g.lda + p];
}
inline float op_b(const gemm_args<float>& g, int64_t p, int64_t j) {
  return g.tb ? g.b[j * g.ldb + p] : g.b[p * g.ldb + j];
}

/// Transposes the 8 x 8 block r[0..8) in registers (unpack pairs, unpack quads via
/// shuffles, swap 128-bit lanes).
__attribute__((always_inline)) inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 2
  for (int g = 0; g < 2; ++g) {
    u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

/// As the AVX-512 pack_a: dst[q][p][i] = op(A)[r0 + q*kMr + i, p0 + p], rows past mc zero.
/// A full panel of A (not transposed) is gathered 8 columns at a time by a register
/// transpose of 6 rows (+2 zero rows); each column's 8 floats are stored at dst[p], the
/// 2 extra landing on the next column's slots before those are written (the buffer has
/// kPackSlack floats to spare after its last panel).
void pack_a(const gemm_args<float>& g, int64_t r0, int64_t mc, int64_t p0, int64_t kc,
            float* dst) {
  for (int64_t q = 0; q < mc; q += kMr, dst += kMr * kc) {
    const int64_t mr = std::min<int64_t>(kMr, mc - q);
    int64_t p = 0;
    if (!g.ta && mr == kMr) {
      const float* src = g.a + (r0 + q) * g.lda + p0;
      for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i)
          r[i] = i < kMr ? _mm256_loadu_ps(src + i * g.lda + p) : _mm256_setzero_ps();
        transpose8(r);
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (p + j) * kMr, r[j]);
      }
    }
    for (; p < kc; ++p) {
      for (int64_t i = 0; i < kMr; ++i) {
        dst[p * kMr + i] = i < mr ? op_a(g, r0 + q + i, p0 + p) : 0.0f;
      }
    }
  }
}

/// As the AVX-512 pack_b: dst[q][p][j] = op(B)[p0 + p, c0 + q*kNr + j], columns past nc
/// zero.
void pack_b(const gemm_args<float>& g, int64_t p0, int64_t kc, int64_t c0, int64_t nc,
            float* dst) {
  for (int64_t q = 0; q < nc; q += kNr, dst += kNr * kc) {
    const int64_t nr = std::min<int64_t>(kNr, nc - q);
    if (!g.tb && nr == kNr) {
      const float* src = g.b + p0 * g.ldb + c0 + q;
      for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 4
        for (int v = 0; v < kNv; ++v) {
          _mm256_store_ps(dst + p * kNr + 8 * v, _mm256_loadu_ps(src + p * g.ldb + 8 * v));
        }
      }
      continue;
    }
    int64_t p = 0;
    if (g.tb && nr == kNr) {
      // op(B)'s columns are B's rows: 8 x 8 register transposes.
      const float* src = g.b + (c0 + q) * g.ldb + p0;
      for (; p + 8 <= kc; p += 8) {
#pragma GCC unroll 2
        for (int v = 0; v < kNv; ++v) {
          __m256 r[8];
#pragma GCC unroll 8
          for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (8 * v + j) * g.ldb + p);
          transpose8(r);
#pragma GCC unroll 8
          for (int i = 0; i < 8; ++i) _mm256_store_ps(dst + (p + i) * kNr + 8 * v, r[i]);
        }
      }
    }
    for (; p < kc; ++p) {
      for (int64_t j = 0; j < kNr; ++j) {
        dst[p * kNr + j] = j < nr ? op_b(g, p0 + p, c0 + q + j) : 0.0f;
      }
    }
  }
}

/// C[0..mr, 0..nr] (+)= A~panel * B~panel over kc steps; `accumulate` adds to C. A partial
/// tile is computed whole and only its mr x nr corner is written.
__attribute__((always_inline)) inline void micro_kernel(int64_t kc, const float* __restrict ap,
                                                        const float* __restrict bp, float* c,
                                                        int64_t ldc, int64_t mr, int64_t nr,
                                                        bool accumulate) {
  __m256 acc[kMr][kNv];
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p) {
    __m256 bv[kNv];
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) bv[v] = _mm256_load_ps(bp + 8 * v);
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
      const __m256 av = _mm256_broadcast_ss(ap + i);
#pragma GCC unroll 4
      for (int v = 0; v < kNv; ++v) acc[i][v] = _mm256_fmadd_ps(av, bv[v], acc[i][v]);
    }
    ap += kMr;
    bp += kNr;
  }
  if (mr == kMr && nr == kNr) {
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < kNv; ++v) {
        float* cp = c + i * ldc + 8 * v;
        _mm256_storeu_ps(cp, accumulate ? _mm256_add_ps(acc[i][v], _mm256_loadu_ps(cp))
                                        : acc[i][v]);
      }
    }
    return;
  }
  // Fully unrolled, as every loop over acc: a loop that indexes acc by a variable makes
  // GCC keep the accumulators in memory, with a spill per FMA.
  alignas(32) float tile[kMr][kNr];
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < kNv; ++v) _mm256_store_ps(&tile[i][8 * v], acc[i][v]);
  }
  for (int64_t i = 0; i < mr; ++i) {
    float* cp = c + i * ldc;
    for (int64_t j = 0; j < nr; ++j) cp[j] = accumulate ? cp[j] + tile[i][j] : tile[i][j];
  }
}

#endif  // __AVX512F__, AVX2

#if defined(TROUPE_PACKED_GEMM)

/// C[blk] = op(A)[blk rows, :] * op(B)[:, blk cols] with the packed kernel (k > 0).
void packed_block(const gemm_args<float>& g, const block& blk) {
  pack_buffers& buf = thread_buffers();
  const int64_t kc_max = std::min(kKc, g.k);
  float* const at =
      buf.a.get(round_up(std::min(kMc, blk.r1 - blk.r0), kMr) * kc_max + kPackSlack);
  float* const bt = buf.b.get(round_up(std::min(kNc, blk.c1 - blk.c0), kNr) * kc_max);
  for (int64_t ic = blk.r0; ic < blk.r1; ic += kMc) {
    const int64_t mc = std::min(kMc, blk.r1 - ic);
    for (int64_t pc = 0; pc < g.k; pc += kKc) {
      const int64_t kc = std::min(kKc, g.k - pc);
      const bool accumulate = pc > 0;
      pack_a(g, ic, mc, pc, kc, at);
      for (int64_t jc = blk.c0; jc < blk.c1; jc += kNc) {
        const int64_t nc = std::min(kNc, blk.c1 - jc);
        pack_b(g, pc, kc, jc, nc, bt);
        for (int64_t ir = 0; ir < mc; ir += kMr) {
          const float* ap = at + ir * kc;
          float* crow = g.c + (ic + ir) * g.ldc + jc;
          const int64_t mr = std::min<int64_t>(kMr, mc - ir);
          // C's rows are far apart and miss the cache: each call fetches the next tile
          // (the first of the next row of tiles after the last) into L2, and the micro-
          // kernel moves its own tile to L1 shortly before it loads it.
          const int64_t below_mr = std::clamp<int64_t>(mc - ir - kMr, 0, kMr);
          const float* below = below_mr > 0 ? crow + kMr * g.ldc : crow;
          for (int64_t jr = 0; jr < nc; jr += kNr) {
            if (accumulate) {
              if (jr + kNr < nc) {
                prefetch_tile<_MM_HINT_T1>(crow + jr + kNr, g.ldc, mr);
              } else {
                prefetch_tile<_MM_HINT_T1>(below, g.ldc, below_mr);
              }
            }
            micro_kernel(kc, ap, bt + jr * kc, crow + jr, g.ldc, mr,
                         std::min<int64_t>(kNr, nc - jr), accumulate);
          }
        }
      }
    }
  }
}


/// Whether the packed kernel beats Eigen: not for products too thin to fill its
/// kMr x kNr register block (Eigen's GEMV-like paths handle those).
bool use_packed(int64_t m, int64_t n, int64_t k) { return m >= 8 && n >= 24 && k >= 8; }

#endif  // TROUPE_PACKED_GEMM

template <class T>
void gemm_impl(cpu_device& dev, const gemm_args<T>& g) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    for (int64_t i = 0; i < g.m; ++i) std::fill_n(g.c + i * g.ldc, g.n, T{0});
    return;
  }
#if defined(TROUPE_PACKED_GEMM)
  if constexpr (std::is_same_v<T, float>) {
    if (use_packed(g.m, g.n, g.k)) {
      partition p(g.m, g.n, parts_for(g.m, g.n, g.k, dev.num_threads()), kMr, kNr);
      run_blocks(dev, p, g.m, g.n, g.k, [&](const block& blk) { packed_block(g, blk); });
      return;
    }
  }
#endif
  eigen_gemm(dev, g);
}

}  // namespace

template <class T>
void gemm(cpu_device& dev, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
          const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc) {
  gemm_impl<T>(dev, {transpose_a, transpose_b, m, n, k, a, lda, b, ldb, c, ldc});
}

template void gemm<float>(cpu_device&, bool, bool, int64_t, int64_t, int64_t, const float*,
                          int64_t, const float*, int64_t, float*, int64_t);
template void gemm<double>(cpu_device&, bool, bool, int64_t, int64_t, int64_t, const double*,
                           int64_t, const double*, int64_t, double*, int64_t);

}  // namespace troupe::cpu
