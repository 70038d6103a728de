#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace troupe {

/// Alignment of every buffer troupe allocates (a cache line, and AVX-512's width).
inline constexpr size_t buffer_alignment = 64;

/// A reference-counted block of tensor memory: either allocated by troupe (64-byte
/// aligned, with header and data in one allocation) or a view of memory owned by
/// something else (a decoded message), kept alive by a shared owner.
/// Thread-safety: the count is atomic; the bytes are not synchronized.
class buffer {
 public:
  /// Allocates `bytes` (uninitialized), or `num_strings` default std::strings when > 0.
  /// Returns nullptr when memory is exhausted.
  static buffer* allocate(size_t bytes, int64_t num_strings = 0);
  /// Wraps external memory; `owner` is released with the last reference.
  static buffer* wrap(void* data, size_t bytes, std::shared_ptr<const void> owner);

  void* data() const { return data_; }
  size_t size() const { return size_; }
  int32_t ref_count() const { return refs_.load(std::memory_order_acquire); }
  bool owns_memory() const { return !external_; }

  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;

 private:
  buffer() = default;
  ~buffer() = default;
  void destroy();

  std::atomic<int32_t> refs_{1};
  bool external_ = false;
  int64_t num_strings_ = 0;
  void* data_ = nullptr;
  size_t size_ = 0;
  std::shared_ptr<const void> owner_;
};

/// Frees the large blocks kept for reuse (Note [Large buffer cache] in buffer.cpp);
/// returns how many bytes were given back. Small per-thread free lists are kept.
size_t release_cached_buffers();

/// An owning handle to a buffer (intrusive reference count).
class buffer_ref {
 public:
  buffer_ref() = default;
  /// Adopts one reference (as returned by buffer::allocate / wrap).
  explicit buffer_ref(buffer* b) : p_(b) {}
  buffer_ref(const buffer_ref& o) : p_(o.p_) {
    if (p_) p_->ref();
  }
  buffer_ref(buffer_ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  buffer_ref& operator=(buffer_ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~buffer_ref() {
    if (p_) p_->unref();
  }
  buffer* get() const { return p_; }
  buffer* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  buffer* p_ = nullptr;
};

}  // namespace troupe
