#include "runtime/core/buffer.hpp"

#include <cstdlib>
#include <new>
#include <string>

namespace troupe {
namespace {
// The header sits in the first cache line of the allocation, the data after it.
constexpr size_t header_bytes = buffer_alignment;
static_assert(sizeof(buffer) <= header_bytes);
}  // namespace

buffer* buffer::allocate(size_t bytes, int64_t num_strings) {
  if (num_strings > 0) bytes = size_t(num_strings) * sizeof(std::string);
  size_t padded = (bytes + buffer_alignment - 1) / buffer_alignment * buffer_alignment;
  if (padded < bytes) return nullptr;  // overflow
  void* block = std::aligned_alloc(buffer_alignment, header_bytes + padded);
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
  this->~buffer();
  std::free(this);
}

}  // namespace troupe
