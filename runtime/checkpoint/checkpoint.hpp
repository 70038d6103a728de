#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/core/dtype.hpp"
#include "runtime/core/expected.hpp"
#include "runtime/core/shape.hpp"
#include "runtime/exec/resource.hpp"

namespace troupe {

/// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected, initial and final value
/// 0xFFFFFFFF: the CRC of iSCSI, ext4 and LevelDB) of `bytes`, continuing `crc`, the CRC
/// of the bytes before them (0 to start): crc32c_extend(crc32c(a), b) == crc32c(a + b).
/// crc32c("123456789") is 0xE3069283. Uses the SSE4.2 crc32 instruction when the CPU has
/// it, a slicing-by-8 table otherwise. Thread-safety: a pure function.
uint32_t crc32c_extend(uint32_t crc, std::span<const std::byte> bytes);
inline uint32_t crc32c(std::span<const std::byte> bytes) { return crc32c_extend(0, bytes); }
inline uint32_t crc32c(std::string_view bytes) {
  return crc32c({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
}

namespace detail {
/// The two implementations behind crc32c_extend, for tests: the table one always works;
/// the SSE4.2 one only where crc32c_has_sse42() (it falls back to the table elsewhere).
uint32_t crc32c_extend_table(uint32_t crc, std::span<const std::byte> bytes);
uint32_t crc32c_extend_sse42(uint32_t crc, std::span<const std::byte> bytes);
bool crc32c_has_sse42();
}  // namespace detail

/// How a checkpoint_store writes.
struct checkpoint_options {
  /// Checkpoints kept: each save deletes, in its own write batch, every checkpoint but the
  /// newest `keep_last` (the new one included). At least 1.
  int keep_last = 5;
  /// Sync the write-ahead log to disk before save() returns, so that a machine crash (not
  /// only a process crash) keeps the checkpoint.
  bool fsync = true;
};

/// One tensor of a checkpoint, as its manifest describes it.
struct checkpoint_tensor {
  std::string name;  ///< the variable's name when it was saved
  dtype type = dtype::invalid;
  tensor_shape shape;
  uint64_t encoded_bytes = 0;  ///< size of the stored value (docs/formats/tensor.md)
  uint32_t crc32c = 0;         ///< CRC-32C of the stored value
};

/// One checkpoint: its manifest (docs/formats/checkpoint.md).
struct checkpoint_info {
  uint64_t id = 0;   ///< grows by one per save in a store; the highest is the newest
  int64_t step = 0;  ///< the step given to save()
  std::chrono::system_clock::time_point time;  ///< when it was saved
  std::string container;                       ///< where the variables came from
  std::vector<checkpoint_tensor> tensors;      ///< sorted by name
  /// Variables of the container that were not initialized, and so were not saved. Sorted.
  std::vector<std::string> skipped;
  uint64_t total_bytes = 0;  ///< sum of the tensors' encoded_bytes
  /// From list() only: why the manifest cannot be read ("" when it can; otherwise only
  /// `id` is meaningful).
  std::string problem;
};

/// What restore() restores, from which checkpoint, into which variables.
struct restore_options {
  /// The checkpoint to restore (an id from list()). None: the newest good one, skipping
  /// damaged ones with a warning. A damaged checkpoint named here is a data_loss error.
  std::optional<uint64_t> checkpoint;
  /// Checkpoint names to restore, together with the keys of `rename`. None: every tensor
  /// of the checkpoint.
  std::optional<std::vector<std::string>> names;
  /// Checkpoint name -> the variable to restore it into (warm start from another model);
  /// names not in the map restore into the variable of the same name.
  std::map<std::string, std::string, std::less<>> rename;
  /// Whether names asked for (in `names` or `rename`) that the checkpoint lacks are an
  /// error (not_found naming them) or are skipped and listed in restore_report::missing.
  bool missing_is_error = true;
};

/// What restore() did.
struct restore_report {
  uint64_t id = 0;   ///< the checkpoint restored
  int64_t step = 0;  ///< its step
  std::chrono::system_clock::time_point time;
  /// (checkpoint name, variable name) of every tensor restored, by checkpoint name.
  std::vector<std::pair<std::string, std::string>> restored;
  /// Variables that did not exist and were created (dtype and shape from the checkpoint).
  std::vector<std::string> created;
  /// Names asked for that the checkpoint lacks (only with missing_is_error = false).
  std::vector<std::string> missing;
  /// One line per newer checkpoint skipped as damaged, naming it, the tensor and the
  /// problem (also printed to stderr).
  std::vector<std::string> warnings;
};

/// A directory of checkpoints of the variables of a resource container: a RocksDB
/// database in which one save is one atomic write batch (the tensors, their manifest,
/// and the deletion of checkpoints past keep_last), every tensor carries a CRC-32C, and
/// restore falls back to the newest checkpoint that verifies. docs/formats/checkpoint.md
/// describes the layout. One store per directory: RocksDB locks it.
/// Thread-safety: every member may be called from any thread; saves are serialized, and
/// list/restore/verify read a consistent snapshot while a save runs.
class checkpoint_store {
 public:
  /// Opens the store in `dir`, creating the directory and an empty store if needed.
  /// Errors naming the path: invalid_argument if `dir` is a file, a non-empty directory
  /// without a database, or a RocksDB database that is not a troupe checkpoint store;
  /// failed_precondition if another open store (in this process or another) holds it;
  /// others as RocksDB reports them.
  static expected<std::unique_ptr<checkpoint_store>> open(const std::filesystem::path& dir,
                                                          checkpoint_options options = {});
  ~checkpoint_store();
  checkpoint_store(const checkpoint_store&) = delete;
  checkpoint_store& operator=(const checkpoint_store&) = delete;

  /// Saves every initialized variable_resource of `container` (model variables, optimizer
  /// slots, the global step: all are variables) as a new checkpoint of `step`, and deletes
  /// the ones past keep_last, in one atomic write batch. Uninitialized variables are
  /// skipped and listed in the result's `skipped`; other kinds of resources are ignored.
  /// failed_precondition if no variable is initialized. Call it between steps: each
  /// variable is read once, but the reads of different variables are not one snapshot.
  expected<checkpoint_info> save(const resource_mgr& resources, std::string_view container,
                                 int64_t step);

  /// The checkpoints, newest first. A checkpoint whose manifest is unreadable is listed
  /// with `problem` set; tensors are not read (see verify).
  expected<std::vector<checkpoint_info>> list() const;

  /// Restores a checkpoint into the variables of `container`, creating those that do not
  /// exist. Every tensor to restore is read, checked against its checksum and manifest,
  /// decoded, and checked against the existing variable's dtype and shape before any
  /// variable changes. See restore_options for the choices and Note [Checkpoint fallback]
  /// in checkpoint.cpp for how damaged checkpoints are skipped. Errors: not_found (no
  /// checkpoint, or a name missing), invalid_argument (a dtype or shape that differs:
  /// the message names the variable and both), data_loss (no good checkpoint: lists
  /// each one and its problem).
  expected<restore_report> restore(resource_mgr& resources, std::string_view container,
                                   const restore_options& options = {}) const;

  /// Reads and checks the manifest and every tensor of checkpoint `id`: ok, not_found, or
  /// data_loss naming the first problem.
  error verify(uint64_t id) const;

  const std::filesystem::path& path() const;

 private:
  struct impl;
  explicit checkpoint_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace troupe
