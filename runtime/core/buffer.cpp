#include "runtime/core/buffer.hpp"

#include <array>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <utility>
#include <new>
#include <string>

namespace troupe {
namespace {
// The header sits in the first cache line of the allocation, the data after it.
constexpr size_t header_bytes = buffer_alignment;
static_assert(sizeof(buffer) <= header_bytes);

// Note [Small buffer cache]
// Graphs of small ops allocate and free a small output per node; glibc's aligned
// allocation costs several hundred instructions per pair (callgrind: about a third of
// the executor's per-op cost). Blocks up to max_cached_block bytes are kept on per-
// thread free lists by size class (multiples of the alignment), at most
// max_cached_per_class each, and reused by the next allocation of that class on the
// same thread. A block may be freed on another thread than the one that allocated it:
// it then joins that thread's list. Lists are released when their thread exits.
constexpr size_t max_cached_block = 4096;
constexpr size_t num_classes = max_cached_block / buffer_alignment;
constexpr int max_cached_per_class = 64;

struct block_cache {
  struct free_block { free_block* next; };
  std::array<free_block*, num_classes + 1> heads{};
  std::array<int, num_classes + 1> counts{};
  bool alive = true;  // false once destroyed: frees during thread exit go to free()

  ~block_cache() {
    alive = false;
    for (free_block*& head : heads)
      while (head != nullptr) std::free(std::exchange(head, head->next));
  }
  void* take(size_t cls) {
    if (!alive) return nullptr;
    free_block* b = heads[cls];
    if (b == nullptr) return nullptr;
    heads[cls] = b->next;
    --counts[cls];
    return b;
  }
  bool give(size_t cls, void* p) {
    if (!alive || counts[cls] >= max_cached_per_class) return false;
    auto* b = static_cast<free_block*>(p);
    b->next = heads[cls];
    heads[cls] = b;
    ++counts[cls];
    return true;
  }
};
thread_local block_cache tls_cache;

size_t size_class(size_t block) { return block / buffer_alignment; }

// Note [Large buffer cache]
// glibc gives blocks above its mmap threshold (at most 32 MiB) back to the kernel on
// free, so a step that allocates the same large outputs every time page-faults all of
// them again (about 0.4 ms per MiB here: more than many kernels' own work). Freed large
// blocks are kept, by exact size, up to large_cache_limit bytes in all, and reused by
// the next allocation of the same size: a training or serving loop allocates the same
// shapes step after step. release_cached_buffers() gives everything back.
constexpr size_t large_cache_limit = size_t(512) << 20;

struct large_cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> blocks;
  size_t bytes = 0;

  void* take(size_t block) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = blocks.find(block);
    if (it == blocks.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    bytes -= block;
    return p;
  }
  bool give(void* p, size_t block) {
    std::lock_guard<std::mutex> lock(mu);
    if (bytes + block > large_cache_limit) return false;
    blocks[block].push_back(p);
    bytes += block;
    return true;
  }
  size_t release() {
    std::lock_guard<std::mutex> lock(mu);
    size_t freed = bytes;
    for (auto& [size, list] : blocks)
      for (void* p : list) std::free(p);
    blocks.clear();
    bytes = 0;
    return freed;
  }
};

large_cache& the_large_cache() {
  static auto* cache = new large_cache;  // never destroyed: frees may come at exit
  return *cache;
}

void* allocate_block(size_t block) {
  if (block <= max_cached_block) {
    if (void* p = tls_cache.take(size_class(block))) return p;
  } else if (void* p = the_large_cache().take(block)) {
    return p;
  }
  return std::aligned_alloc(buffer_alignment, block);
}

void free_block(void* p, size_t block) {
  if (block <= max_cached_block) {
    if (tls_cache.give(size_class(block), p)) return;
  } else if (the_large_cache().give(p, block)) {
    return;
  }
  std::free(p);
}

size_t block_size(size_t bytes) {
  size_t padded = (bytes + buffer_alignment - 1) / buffer_alignment * buffer_alignment;
  return padded < bytes ? 0 : header_bytes + padded;  // 0: overflow
}
}  // namespace

size_t release_cached_buffers() { return the_large_cache().release(); }

buffer* buffer::allocate(size_t bytes, int64_t num_strings) {
  if (num_strings > 0) bytes = size_t(num_strings) * sizeof(std::string);
  size_t block_bytes = block_size(bytes);
  if (block_bytes == 0) return nullptr;  // overflow
  void* block = allocate_block(block_bytes);
  if (block == nullptr) return nullptr;
  auto* b = new (block) buffer;
  b->data_ = static_cast<char*>(block) + header_bytes;
  b->size_ = bytes;
  b->num_strings_ = num_strings;
  auto* strings = static_cast<std::string*>(b->data_);
  for (int64_t i = 0; i < num_strings; ++i) new (strings + i) std::string();
  return b;
}

buffer* buffer::wrap(void* data, size_t bytes, std::shared_ptr<const void> owner) {
  auto* b = new buffer;
  b->external_ = true;
  b->data_ = data;
  b->size_ = bytes;
  b->owner_ = std::move(owner);
  return b;
}

void buffer::destroy() {
  if (external_) {
    delete this;
    return;
  }
  auto* strings = static_cast<std::string*>(data_);
  for (int64_t i = 0; i < num_strings_; ++i) strings[i].~basic_string();
  size_t block_bytes = block_size(size_);
  this->~buffer();
  free_block(this, block_bytes);
}

}  // namespace troupe
