#include "pipeline/stats/sketches.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <tuple>

#include "pipeline/util/json.hpp"

namespace troupe::pipeline {

// ---- xxhash64 ----

namespace {
constexpr uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL,
                   p3 = 0x165667B19E3779F9ULL, p4 = 0x85EBCA77C2B2AE63ULL,
                   p5 = 0x27D4EB2F165667C5ULL;
inline uint64_t read64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
inline uint32_t read32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t xx_round(uint64_t acc, uint64_t input) {
  return std::rotl(acc + input * p2, 31) * p1;
}
inline uint64_t xx_merge(uint64_t acc, uint64_t v) { return (acc ^ xx_round(0, v)) * p1 + p4; }
}  // namespace

uint64_t xxhash64(std::string_view bytes, uint64_t seed) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  uint64_t h;
  if (bytes.size() >= 32) {
    uint64_t v1 = seed + p1 + p2, v2 = seed + p2, v3 = seed, v4 = seed - p1;
    for (; p + 32 <= end; p += 32) {
      v1 = xx_round(v1, read64(p));
      v2 = xx_round(v2, read64(p + 8));
      v3 = xx_round(v3, read64(p + 16));
      v4 = xx_round(v4, read64(p + 24));
    }
    h = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
    h = xx_merge(xx_merge(xx_merge(xx_merge(h, v1), v2), v3), v4);
  } else {
    h = seed + p5;
  }
  h += bytes.size();
  for (; p + 8 <= end; p += 8) h = std::rotl(h ^ xx_round(0, read64(p)), 27) * p1 + p4;
  if (p + 4 <= end) {
    h = std::rotl(h ^ (uint64_t{read32(p)} * p1), 23) * p2 + p3;
    p += 4;
  }
  for (; p < end; ++p) h = std::rotl(h ^ (uint64_t{static_cast<uint8_t>(*p)} * p5), 11) * p1;
  h ^= h >> 33; h *= p2; h ^= h >> 29; h *= p3; h ^= h >> 32;
  return h;
}

// ---- Typed access to the sketches' own JSON formats (parsed by util/json). ----

namespace {

// Typed access to a parsed document; every failure names the sketch and the field.
struct json_reader {
  std::string_view who;

  expected<const json_value*> field(const json_value& obj, std::string_view name) const {
    if (obj.k != json_value::kind::object)
      return make_error(errc::invalid_argument, who, ": expected a JSON object");
    for (const auto& [k, v] : obj.members)
      if (k == name) return &v;
    return make_error(errc::invalid_argument, who, ": missing field '", name, "'");
  }
  template <class Int>
  expected<Int> as_int(const json_value& v, std::string_view name) const {
    Int out{};
    if (v.k == json_value::kind::number) {
      const char* end = v.source.data() + v.source.size();
      auto [ptr, ec] = std::from_chars(v.source.data(), end, out);
      if (ec == std::errc{} && ptr == end) return out;
    }
    return make_error(errc::invalid_argument, who, ": field '", name,
                      "': expected an integer, got ",
                      v.k == json_value::kind::number ? v.source : "a non-number");
  }
  expected<double> as_double(const json_value& v, std::string_view name) const {
    double out = 0;
    if (v.as_double(out)) return out;
    return make_error(errc::invalid_argument, who, ": field '", name, "': expected a number, got ",
                      v.k == json_value::kind::string ? std::string_view(v.text) : v.source);
  }
  expected<const std::vector<json_value>*> as_array(const json_value& v,
                                                    std::string_view name) const {
    if (v.k != json_value::kind::array)
      return make_error(errc::invalid_argument, who, ": field '", name, "': expected an array");
    return &v.items;
  }
  expected<const std::string*> as_string(const json_value& v, std::string_view name) const {
    if (v.k != json_value::kind::string)
      return make_error(errc::invalid_argument, who, ": field '", name, "': expected a string");
    return &v.text;
  }
  error check_type(const json_value& doc, std::string_view expected_type) const {
    const json_value* t = TROUPE_TRY(field(doc, "type"));
    const std::string* s = TROUPE_TRY(as_string(*t, "type"));
    TROUPE_REQUIRE(*s == expected_type, who, ": field 'type': expected \"", expected_type,
                   "\", got \"", *s, "\"");
    return {};
  }
};

void append_double(std::string& out, double v) { append_json_number(out, v); }
void append_string(std::string& out, std::string_view s) { append_json_string(out, s); }

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

// ---- kll_sketch ----
// Levels follow the KLL paper's compactor hierarchy with capacity ceil(k * (2/3)^depth) + 1
// (depth 0 = the top level) and lazy compaction: when the values held reach the sum of
// capacities, the lowest full level is sorted and every other value (random offset) moves
// up one level with twice the weight; an odd value out stays behind. Total weight is
// preserved exactly, so histogram counts sum to count().

namespace {
constexpr uint64_t kll_seed = 0x4B4C4C5F534B4554ULL;  // fixed: sketches are deterministic
constexpr int kll_min_k = 8, kll_max_k = 65535;
}  // namespace

kll_sketch::kll_sketch(int k)
    : k_(std::clamp(k, kll_min_k, kll_max_k)),
      min_(std::numeric_limits<double>::quiet_NaN()),
      max_(std::numeric_limits<double>::quiet_NaN()),
      rng_(kll_seed) {
  grow();
}

int kll_sketch::capacity(int level) const {
  int depth = static_cast<int>(levels_.size()) - level - 1;
  return static_cast<int>(std::ceil(k_ * std::pow(2.0 / 3.0, depth))) + 1;
}

void kll_sketch::grow() {
  levels_.emplace_back();
  update_capacities();
}

void kll_sketch::update_capacities() {
  max_retained_ = 0;
  for (int h = 0; h < static_cast<int>(levels_.size()); ++h) {
    max_retained_ += capacity(h);
    levels_[h].reserve(2 * capacity(h) + 2);
  }
}

void kll_sketch::add(double v) {
  if (std::isnan(v)) return;
  if (count_ == 0) {
    min_ = max_ = v;
  } else {
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  ++count_;
  levels_[0].push_back(v);
  if (++retained_ >= max_retained_) compress();
}

void kll_sketch::compress() {
  while (retained_ >= max_retained_) {
    for (int h = 0; h < static_cast<int>(levels_.size()); ++h) {
      if (static_cast<int>(levels_[h].size()) >= capacity(h)) {
        if (h + 1 == static_cast<int>(levels_.size())) grow();
        compact_level(h);
        break;
      }
    }
  }
}

void kll_sketch::compact_level(int level) {
  std::vector<double>& src = levels_[level];
  std::vector<double>& dst = levels_[level + 1];
  std::sort(src.begin(), src.end());
  size_t keep = src.size() % 2;  // the smallest value stays when the count is odd
  size_t offset = keep + (splitmix64(rng_) >> 63);
  size_t moved = 0;
  for (size_t i = offset; i < src.size(); i += 2, ++moved) dst.push_back(src[i]);
  retained_ -= static_cast<int64_t>(src.size() - keep - moved);
  src.resize(keep);
}

void kll_sketch::merge(const kll_sketch& other) {
  if (other.count_ == 0) return;
  if (&other == this) {
    kll_sketch copy = other;
    merge(copy);
    return;
  }
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  if (other.k_ < k_) {
    k_ = other.k_;
    update_capacities();
  }
  while (levels_.size() < other.levels_.size()) grow();
  for (size_t h = 0; h < other.levels_.size(); ++h) {
    levels_[h].insert(levels_[h].end(), other.levels_[h].begin(), other.levels_[h].end());
    retained_ += static_cast<int64_t>(other.levels_[h].size());
  }
  compress();
}

double kll_sketch::min() const { return min_; }
double kll_sketch::max() const { return max_; }

std::vector<std::pair<double, int64_t>> kll_sketch::weighted() const {
  std::vector<std::pair<double, int64_t>> out;
  out.reserve(static_cast<size_t>(retained_));
  for (size_t h = 0; h < levels_.size(); ++h)
    for (double v : levels_[h]) out.emplace_back(v, int64_t{1} << h);
  std::sort(out.begin(), out.end());
  return out;
}

double kll_sketch::quantile(double q) const {
  if (count_ == 0 || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  if (q <= 0) return min_;
  if (q >= 1) return max_;
  double target = q * static_cast<double>(count_);
  int64_t cum = 0;
  auto items = weighted();
  for (const auto& [v, w] : items) {
    cum += w;
    if (static_cast<double>(cum) >= target) return v;
  }
  return max_;
}

double kll_sketch::rank(double v) const {
  if (count_ == 0 || std::isnan(v)) return std::numeric_limits<double>::quiet_NaN();
  int64_t cum = 0;
  for (size_t h = 0; h < levels_.size(); ++h)
    for (double x : levels_[h])
      if (x <= v) cum += int64_t{1} << h;
  return static_cast<double>(cum) / static_cast<double>(count_);
}

double kll_sketch::rank_error() const {
  // Exact until the first compaction (one level); then the bound Apache DataSketches states
  // for KLL at 99% confidence, 2.296 / k^0.9723 (0.0133 for k = 200). See the header.
  return levels_.size() == 1 ? 0.0 : 2.296 / std::pow(static_cast<double>(k_), 0.9723);
}

std::vector<int64_t> kll_sketch::histogram(int buckets) const {
  if (buckets < 1) return {};
  std::vector<int64_t> out(static_cast<size_t>(buckets), 0);
  if (count_ == 0) return out;
  double width = (max_ - min_) / buckets;
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) {
      double pos = width > 0 ? (v - min_) / width : 0.0;
      // NaN positions (infinite ranges) go to the first bucket; max to the last.
      int b = pos >= 0 ? static_cast<int>(std::min(pos, static_cast<double>(buckets - 1))) : 0;
      if (v == max_ && width > 0) b = buckets - 1;
      out[static_cast<size_t>(b)] += int64_t{1} << h;
    }
  }
  return out;
}

std::string kll_sketch::to_json() const {
  std::string out = str_cat("{\"type\":\"kll\",\"k\":", k_, ",\"count\":", count_, ",\"min\":");
  append_double(out, min_);
  out += ",\"max\":";
  append_double(out, max_);
  out += str_cat(",\"rng\":", rng_, ",\"levels\":[");
  for (size_t h = 0; h < levels_.size(); ++h) {
    out += h ? ",[" : "[";
    for (size_t i = 0; i < levels_[h].size(); ++i) {
      if (i) out.push_back(',');
      append_double(out, levels_[h][i]);
    }
    out.push_back(']');
  }
  out += "]}";
  return out;
}

expected<kll_sketch> kll_sketch::from_json(std::string_view text) {
  const json_reader r{"kll_sketch.from_json"};
  json_value doc = TROUPE_TRY(parse_json(text, r.who, 32));
  TROUPE_TRY(r.check_type(doc, "kll"));
  int k = TROUPE_TRY(r.as_int<int>(*TROUPE_TRY(r.field(doc, "k")), "k"));
  TROUPE_REQUIRE(k >= kll_min_k && k <= kll_max_k, r.who, ": field 'k': expected ", kll_min_k,
                 "..", kll_max_k, ", got ", k);
  kll_sketch s(k);
  s.count_ = TROUPE_TRY(r.as_int<int64_t>(*TROUPE_TRY(r.field(doc, "count")), "count"));
  TROUPE_REQUIRE(s.count_ >= 0, r.who, ": field 'count': expected >= 0, got ", s.count_);
  s.min_ = TROUPE_TRY(r.as_double(*TROUPE_TRY(r.field(doc, "min")), "min"));
  s.max_ = TROUPE_TRY(r.as_double(*TROUPE_TRY(r.field(doc, "max")), "max"));
  s.rng_ = TROUPE_TRY(r.as_int<uint64_t>(*TROUPE_TRY(r.field(doc, "rng")), "rng"));
  const auto* levels = TROUPE_TRY(r.as_array(*TROUPE_TRY(r.field(doc, "levels")), "levels"));
  TROUPE_REQUIRE(!levels->empty() && levels->size() <= 62, r.who,
                 ": field 'levels': expected 1..62 levels, got ", levels->size());
  while (s.levels_.size() < levels->size()) s.grow();
  int64_t weight = 0;
  for (size_t h = 0; h < levels->size(); ++h) {
    std::string name = str_cat("levels[", h, "]");
    const auto* values = TROUPE_TRY(r.as_array((*levels)[h], name));
    for (const json_value& v : *values) {
      double x = TROUPE_TRY(r.as_double(v, name));
      TROUPE_REQUIRE(x >= s.min_ && x <= s.max_, r.who, ": field '", name,
                     "': expected values within [min, max] = [", s.min_, ", ", s.max_, "], got ", x);
      s.levels_[h].push_back(x);
      weight += int64_t{1} << h;
    }
    s.retained_ += static_cast<int64_t>(values->size());
  }
  TROUPE_REQUIRE(weight == s.count_, r.who, ": levels hold a total weight of ", weight,
                 ", expected count = ", s.count_);
  if (s.count_ == 0) s.min_ = s.max_ = std::numeric_limits<double>::quiet_NaN();
  s.compress();
  return s;
}

// ---- hyperloglog ----

namespace {
constexpr int hll_min_p = 4, hll_max_p = 18;
constexpr size_t hll_table_size = 2 * hyperloglog::exact_limit;  // a power of two

// Folds registers of precision `from_p` into `dst` of precision to_p <= from_p: the index
// bits dropped become the leading bits of the coarse sketch's remaining hash.
void fold_registers(const std::vector<uint8_t>& src, int from_p, std::vector<uint8_t>& dst,
                    int to_p) {
  int d = from_p - to_p;
  for (size_t j = 0; j < src.size(); ++j) {
    if (src[j] == 0) continue;
    size_t idx = j >> d;
    uint64_t low = j & ((uint64_t{1} << d) - 1);
    int rho = low != 0 ? d - static_cast<int>(std::bit_width(low)) + 1 : d + src[j];
    dst[idx] = std::max(dst[idx], static_cast<uint8_t>(rho));
  }
}
}  // namespace

hyperloglog::hyperloglog(int precision)
    : p_(std::clamp(precision, hll_min_p, hll_max_p)), table_(hll_table_size, 0) {}

void hyperloglog::add_hash(uint64_t h) {
  if (registers_.empty()) {
    insert_exact(h);
  } else {
    add_register(h);
  }
}

void hyperloglog::insert_exact(uint64_t h) {
  if (h == 0) {
    if (has_zero_) return;
    has_zero_ = true;
  } else {
    // Mix again: add_hash callers may pass weak hashes.
    size_t i = (h * 0x9E3779B97F4A7C15ULL) >> (64 - std::countr_zero(hll_table_size));
    while (table_[i] != 0) {
      if (table_[i] == h) return;
      i = (i + 1) & (hll_table_size - 1);
    }
    table_[i] = h;
  }
  if (++exact_size_ > exact_limit) to_registers();
}

void hyperloglog::to_registers() {
  registers_.assign(size_t{1} << p_, 0);
  for (uint64_t h : table_)
    if (h != 0) add_register(h);
  if (has_zero_) add_register(0);
  std::vector<uint64_t>().swap(table_);
  exact_size_ = 0;
  has_zero_ = false;
}

void hyperloglog::add_register(uint64_t h) {
  size_t idx = h >> (64 - p_);
  uint64_t w = (h << p_) | (uint64_t{1} << (p_ - 1));  // caps rho at 64 - p + 1
  auto rho = static_cast<uint8_t>(std::countl_zero(w) + 1);
  if (registers_[idx] < rho) registers_[idx] = rho;
}

void hyperloglog::reduce_precision(int p) {
  if (p >= p_) return;
  if (!registers_.empty()) {
    std::vector<uint8_t> coarse(size_t{1} << p, 0);
    fold_registers(registers_, p_, coarse, p);
    registers_ = std::move(coarse);
  }
  p_ = p;
}

void hyperloglog::merge(const hyperloglog& other) {
  reduce_precision(other.p_);
  if (other.registers_.empty()) {
    for (uint64_t h : other.table_)
      if (h != 0) add_hash(h);
    if (other.has_zero_) add_hash(0);
    return;
  }
  if (registers_.empty()) to_registers();
  if (other.p_ == p_) {
    for (size_t i = 0; i < registers_.size(); ++i)
      registers_[i] = std::max(registers_[i], other.registers_[i]);
  } else {
    fold_registers(other.registers_, other.p_, registers_, p_);
  }
}

double hyperloglog::estimate() const {
  if (registers_.empty()) return static_cast<double>(exact_size_);
  const double m = static_cast<double>(registers_.size());
  double alpha = m == 16 ? 0.673 : m == 32 ? 0.697 : m == 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
  double sum = 0;
  int zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / zeros);  // small-range correction
  return e;
}

double hyperloglog::relative_error() const {
  return registers_.empty() ? 0.0 : 1.04 / std::sqrt(static_cast<double>(size_t{1} << p_));
}

std::string hyperloglog::to_json() const {
  std::string out = str_cat("{\"type\":\"hyperloglog\",\"precision\":", p_);
  if (registers_.empty()) {
    std::vector<uint64_t> hashes;
    for (uint64_t h : table_)
      if (h != 0) hashes.push_back(h);
    if (has_zero_) hashes.push_back(0);
    std::sort(hashes.begin(), hashes.end());
    out += ",\"exact\":[";
    for (size_t i = 0; i < hashes.size(); ++i) out += str_cat(i ? "," : "", hashes[i]);
    out += "]}";
  } else {
    static constexpr char hex[] = "0123456789abcdef";
    out += ",\"registers\":\"";
    for (uint8_t r : registers_) {
      out.push_back(hex[r >> 4]);
      out.push_back(hex[r & 15]);
    }
    out += "\"}";
  }
  return out;
}

expected<hyperloglog> hyperloglog::from_json(std::string_view text) {
  const json_reader r{"hyperloglog.from_json"};
  json_value doc = TROUPE_TRY(parse_json(text, r.who, 32));
  TROUPE_TRY(r.check_type(doc, "hyperloglog"));
  int p = TROUPE_TRY(r.as_int<int>(*TROUPE_TRY(r.field(doc, "precision")), "precision"));
  TROUPE_REQUIRE(p >= hll_min_p && p <= hll_max_p, r.who, ": field 'precision': expected ",
                 hll_min_p, "..", hll_max_p, ", got ", p);
  hyperloglog s(p);
  auto exact = r.field(doc, "exact");
  if (exact) {
    const auto* hashes = TROUPE_TRY(r.as_array(**exact, "exact"));
    TROUPE_REQUIRE(hashes->size() <= exact_limit, r.who, ": field 'exact': expected at most ",
                   exact_limit, " hashes, got ", hashes->size());
    for (const json_value& h : *hashes) s.add_hash(TROUPE_TRY(r.as_int<uint64_t>(h, "exact")));
    return s;
  }
  auto regs = r.field(doc, "registers");
  TROUPE_REQUIRE(regs.has_value(), r.who, ": missing field 'exact' or 'registers'");
  const std::string* hex = TROUPE_TRY(r.as_string(**regs, "registers"));
  size_t m = size_t{1} << p;
  TROUPE_REQUIRE(hex->size() == 2 * m, r.who, ": field 'registers': expected ", 2 * m,
                 " hex digits for precision ", p, ", got ", hex->size());
  s.registers_.assign(m, 0);
  std::vector<uint64_t>().swap(s.table_);
  for (size_t i = 0; i < m; ++i) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(hex->data() + 2 * i, hex->data() + 2 * i + 2, v, 16);
    TROUPE_REQUIRE(ec == std::errc{} && ptr == hex->data() + 2 * i + 2 &&
                       v <= static_cast<unsigned>(64 - p + 1),
                   r.who, ": field 'registers': register ", i, ": expected a hex value 0..",
                   64 - p + 1, ", got '", hex->substr(2 * i, 2), "'");
    s.registers_[i] = static_cast<uint8_t>(v);
  }
  return s;
}

// ---- top_k ----

top_k::top_k(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)), index_(16, index_entry{0, none}) {}

uint32_t top_k::find(std::string_view value, uint64_t hash) const {
  const size_t mask = index_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const index_entry& e = index_[i];
    if (e.id == none) return none;
    if (e.hash == hash && slots_[e.id].key == value) return e.id;
  }
}

void top_k::index_insert(uint32_t id) {
  const size_t mask = index_.size() - 1;
  const uint64_t hash = slots_[id].hash;
  size_t i = hash & mask;
  while (index_[i].id != none) i = (i + 1) & mask;
  index_[i] = {hash, id};
}

// Backward-shift deletion: no tombstones, so probes stay short under constant churn.
void top_k::index_erase(uint32_t id) {
  const size_t mask = index_.size() - 1;
  size_t i = slots_[id].hash & mask;
  while (index_[i].id != id) i = (i + 1) & mask;
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    if (index_[j].id == none) break;
    const size_t home = index_[j].hash & mask;
    // Move index_[j] into the hole at i unless its home lies cyclically in (i, j].
    const bool home_in_between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!home_in_between) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i].id = none;
}

void top_k::grow_index() {
  index_.assign(index_.size() * 2, index_entry{0, none});
  for (uint32_t id = 0; id < slots_.size(); ++id) index_insert(id);
}

uint32_t top_k::new_bucket(int64_t count, uint32_t after) {
  uint32_t b;
  if (!free_buckets_.empty()) {
    b = free_buckets_.back();
    free_buckets_.pop_back();
  } else {
    b = static_cast<uint32_t>(buckets_.size());
    buckets_.emplace_back();
  }
  bucket& nb = buckets_[b];
  nb.count = count;
  nb.head = none;
  nb.prev = after;
  nb.next = after == none ? min_bucket_ : buckets_[after].next;
  if (after == none) {
    min_bucket_ = b;
  } else {
    buckets_[after].next = b;
  }
  if (nb.next == none) {
    max_bucket_ = b;
  } else {
    buckets_[nb.next].prev = b;
  }
  return b;
}

void top_k::attach(uint32_t id, uint32_t from) {
  slot& s = slots_[id];
  // The last bucket with count <= s.count (none: s.count is below every bucket).
  uint32_t b;
  if (max_bucket_ != none && buckets_[max_bucket_].count <= s.count) {
    b = max_bucket_;
  } else {
    b = from != none ? from : min_bucket_;
    if (b != none && buckets_[b].count > s.count) b = none;
    if (b == none && min_bucket_ != none && buckets_[min_bucket_].count <= s.count)
      b = min_bucket_;
    if (b != none)
      while (buckets_[b].next != none && buckets_[buckets_[b].next].count <= s.count)
        b = buckets_[b].next;
  }
  if (b == none || buckets_[b].count != s.count) b = new_bucket(s.count, b);
  bucket& bk = buckets_[b];
  s.bucket = b;
  s.prev = none;
  s.next = bk.head;
  if (bk.head != none) slots_[bk.head].prev = id;
  bk.head = id;
}

uint32_t top_k::detach(uint32_t id) {
  slot& s = slots_[id];
  const uint32_t b = s.bucket;
  bucket& bk = buckets_[b];
  if (s.prev != none) {
    slots_[s.prev].next = s.next;
  } else {
    bk.head = s.next;
  }
  if (s.next != none) slots_[s.next].prev = s.prev;
  const uint32_t before = bk.prev;
  if (bk.head == none) {  // the bucket is empty: unlink and free it
    if (bk.prev != none) {
      buckets_[bk.prev].next = bk.next;
    } else {
      min_bucket_ = bk.next;
    }
    if (bk.next != none) {
      buckets_[bk.next].prev = bk.prev;
    } else {
      max_bucket_ = bk.prev;
    }
    free_buckets_.push_back(b);
    return before;
  }
  return b;  // still there: the search for the new count may start at it
}

void top_k::increment(uint32_t id, int64_t by) {
  const uint32_t from = detach(id);
  slots_[id].count += by;
  attach(id, from);
}

void top_k::add_hashed(std::string_view value, uint64_t hash, int64_t count) {
  if (count <= 0) return;
  const uint32_t found = find(value, hash);
  if (found != none) {
    increment(found, count);
    return;
  }
  if (slots_.size() < capacity_) {
    const auto id = static_cast<uint32_t>(slots_.size());
    slots_.push_back({floor_ + count, floor_, hash, std::string(value), none, none, none});
    max_error_ = std::max(max_error_, floor_);
    if (slots_.size() * 2 > index_.size()) {
      grow_index();
    } else {
      index_insert(id);
    }
    attach(id, none);
    return;
  }
  // Space-Saving: the value takes the slot of a value with the minimum count m, with count
  // m + count and error m.
  const uint32_t id = buckets_[min_bucket_].head;
  slot& s = slots_[id];
  const int64_t m = s.count;
  index_erase(id);
  s.key.assign(value);  // reuses the string's storage
  s.hash = hash;
  s.error = m;
  index_insert(id);
  floor_ = std::max(floor_, m);
  max_error_ = std::max(max_error_, m);
  increment(id, count);
}

void top_k::rebuild(std::vector<entry> entries, int64_t floor) {
  // Ascending count, so that attach() always finds its bucket at the top of the list.
  std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
    if (a.count != b.count) return a.count < b.count;
    return a.hash != b.hash ? a.hash > b.hash : a.key > b.key;
  });
  slots_.clear();
  buckets_.clear();
  free_buckets_.clear();
  min_bucket_ = max_bucket_ = none;
  size_t index_size = 16;
  while (index_size < entries.size() * 2) index_size *= 2;
  index_.assign(index_size, index_entry{0, none});
  floor_ = floor;
  max_error_ = 0;
  slots_.reserve(entries.size());
  for (entry& e : entries) {
    const auto id = static_cast<uint32_t>(slots_.size());
    max_error_ = std::max(max_error_, e.error);
    slots_.push_back({e.count, e.error, e.hash, std::move(e.key), none, none, none});
    index_insert(id);
    attach(id, none);
  }
}

namespace {
bool by_count_then_value(const std::pair<std::string, int64_t>& a,
                         const std::pair<std::string, int64_t>& b) {
  return a.second != b.second ? a.second > b.second : a.first < b.first;
}
}  // namespace

void top_k::merge(const top_k& other) {
  // A value missing from a summary may have had up to that summary's floor there.
  std::vector<entry> all;
  all.reserve(slots_.size() + other.slots_.size());
  for (const slot& s : slots_) {
    const uint32_t o = other.find(s.key, s.hash);
    const slot* os = o == none ? nullptr : &other.slots_[o];
    all.push_back({s.key, s.hash, s.count + (os ? os->count : other.floor_),
                   s.error + (os ? os->error : other.floor_)});
  }
  for (const slot& o : other.slots_)
    if (find(o.key, o.hash) == none)
      all.push_back({o.key, o.hash, o.count + floor_, o.error + floor_});
  int64_t floor = floor_ + other.floor_;
  if (all.size() > capacity_) {
    // Keep the capacity_ largest counts, ties to the smaller value (a total order, so the
    // kept set is deterministic).
    const auto nth = all.begin() + static_cast<std::ptrdiff_t>(capacity_);
    std::nth_element(all.begin(), nth, all.end(), [](const entry& a, const entry& b) {
      return a.count != b.count ? a.count > b.count : a.key < b.key;
    });
    for (auto it = nth; it != all.end(); ++it) floor = std::max(floor, it->count);
    all.resize(capacity_);
  }
  rebuild(std::move(all), floor);
}

std::vector<std::pair<std::string, int64_t>> top_k::top(size_t k) const {
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(slots_.size());
  for (const slot& s : slots_) out.emplace_back(s.key, s.count);
  k = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end(),
                    by_count_then_value);
  out.resize(k);
  return out;
}

std::string top_k::to_json() const {
  std::vector<const slot*> order;
  for (const slot& s : slots_) order.push_back(&s);
  std::sort(order.begin(), order.end(), [](const slot* a, const slot* b) {
    return a->count != b->count ? a->count > b->count : a->key < b->key;
  });
  std::string out = str_cat("{\"type\":\"top_k\",\"capacity\":", capacity_, ",\"floor\":", floor_,
                            ",\"items\":[");
  for (size_t i = 0; i < order.size(); ++i) {
    out += i ? ",[" : "[";
    append_string(out, order[i]->key);
    out += str_cat(",", order[i]->count, ",", order[i]->error, "]");
  }
  out += "]}";
  return out;
}

expected<top_k> top_k::from_json(std::string_view text) {
  const json_reader r{"top_k.from_json"};
  json_value doc = TROUPE_TRY(parse_json(text, r.who, 32));
  TROUPE_TRY(r.check_type(doc, "top_k"));
  auto cap = TROUPE_TRY(r.as_int<size_t>(*TROUPE_TRY(r.field(doc, "capacity")), "capacity"));
  TROUPE_REQUIRE(cap >= 1 && cap <= (size_t{1} << 31), r.who,
                 ": field 'capacity': expected 1..2^31, got ", cap);
  top_k s(cap);
  s.floor_ = TROUPE_TRY(r.as_int<int64_t>(*TROUPE_TRY(r.field(doc, "floor")), "floor"));
  TROUPE_REQUIRE(s.floor_ >= 0, r.who, ": field 'floor': expected >= 0, got ", s.floor_);
  const auto* items = TROUPE_TRY(r.as_array(*TROUPE_TRY(r.field(doc, "items")), "items"));
  TROUPE_REQUIRE(items->size() <= cap, r.who, ": field 'items': expected at most capacity = ",
                 cap, " items, got ", items->size());
  std::vector<entry> entries;
  entries.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    std::string name = str_cat("items[", i, "]");
    const auto* item = TROUPE_TRY(r.as_array((*items)[i], name));
    TROUPE_REQUIRE(item->size() == 3, r.who, ": field '", name,
                   "': expected [value, count, error], got ", item->size(), " elements");
    const std::string* key = TROUPE_TRY(r.as_string((*item)[0], name));
    int64_t count = TROUPE_TRY(r.as_int<int64_t>((*item)[1], name));
    int64_t err = TROUPE_TRY(r.as_int<int64_t>((*item)[2], name));
    TROUPE_REQUIRE(count > 0 && err >= 0 && err <= count, r.who, ": field '", name,
                   "': expected count > 0 and 0 <= error <= count, got count ", count,
                   ", error ", err);
    const uint64_t hash = xxhash64(*key);
    TROUPE_REQUIRE(s.find(*key, hash) == none, r.who, ": field '", name,
                   "': duplicate value \"", *key, "\"");
    // Index as we go so duplicates are found; rebuild() below lays out the buckets.
    s.slots_.push_back({count, err, hash, *key, none, none, none});
    if (s.slots_.size() * 2 > s.index_.size()) {
      s.grow_index();
    } else {
      s.index_insert(static_cast<uint32_t>(s.slots_.size() - 1));
    }
    entries.push_back({*key, hash, count, err});
  }
  const int64_t floor = s.floor_;
  s.rebuild(std::move(entries), floor);
  return s;
}

}  // namespace troupe::pipeline
