#include "pipeline/util/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace troupe::pipeline {

const json_value* json_value::get(std::string_view name) const {
  for (const auto& [n, v] : members)
    if (n == name) return &v;
  return nullptr;
}

bool json_value::as_int64(int64_t& out) const {
  if (k != kind::number) return false;
  const char* end = source.data() + source.size();
  auto [ptr, ec] = std::from_chars(source.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

bool json_value::as_uint64(uint64_t& out) const {
  if (k != kind::number || source.empty() || source[0] == '-') return false;
  const char* end = source.data() + source.size();
  auto [ptr, ec] = std::from_chars(source.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

bool json_value::as_double(double& out) const {
  if (k == kind::number) {
    out = number;
    return true;
  }
  if (k != kind::string) return false;
  if (text == "NaN") {
    out = std::numeric_limits<double>::quiet_NaN();
  } else if (text == "Infinity") {
    out = std::numeric_limits<double>::infinity();
  } else if (text == "-Infinity") {
    out = -std::numeric_limits<double>::infinity();
  } else {
    return false;
  }
  return true;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class json_parser {
 public:
  json_parser(std::string_view text, std::string_view what, int max_depth)
      : s_(text), what_(what), max_depth_(max_depth) {}

  expected<json_value> parse_document() {
    json_value v;
    TROUPE_TRY(parse(v, 0));
    skip_ws();
    if (i_ != s_.size()) return fail("expected end of input");
    return v;
  }

 private:
  error fail(std::string_view expected_what) const {
    int64_t line = 1, col = 1;
    for (size_t j = 0; j < i_ && j < s_.size(); ++j) {
      if (s_[j] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string got = "end of input";
    if (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c >= 0x20 && c < 0x7f) {
        got = str_cat("'", s_[i_], "'");
      } else {
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
        got = buf;
      }
    }
    return make_error(errc::invalid_argument, what_, ": JSON line ", line, ", column ", col, ": ",
                      expected_what, ", got ", got);
  }

  void skip_ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }

  bool eat(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  bool eat_word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  error parse(json_value& v, int depth) {
    skip_ws();
    if (i_ >= s_.size()) return fail("expected a value");
    const size_t start = i_;
    TROUPE_TRY(parse_inner(v, depth));
    v.source = s_.substr(start, i_ - start);
    return {};
  }

  error parse_inner(json_value& v, int depth) {
    const char c = s_[i_];
    if (c == '{' || c == '[') {
      if (depth >= max_depth_)
        return fail(str_cat("nesting too deep (more than ", max_depth_, " levels)"));
    }
    if (c == '{') {
      ++i_;
      v.k = json_value::kind::object;
      if (eat('}')) return {};
      do {
        skip_ws();
        if (i_ >= s_.size() || s_[i_] != '"') return fail("expected a member name in quotes");
        std::string name;
        TROUPE_TRY(parse_string(name));
        if (!eat(':')) return fail("expected ':'");
        json_value member;
        TROUPE_TRY(parse(member, depth + 1));
        v.members.emplace_back(std::move(name), std::move(member));
      } while (eat(','));
      if (!eat('}')) return fail("expected ',' or '}'");
      return {};
    }
    if (c == '[') {
      ++i_;
      v.k = json_value::kind::array;
      if (eat(']')) return {};
      do {
        v.items.emplace_back();
        TROUPE_TRY(parse(v.items.back(), depth + 1));
      } while (eat(','));
      if (!eat(']')) return fail("expected ',' or ']'");
      return {};
    }
    if (c == '"') {
      v.k = json_value::kind::string;
      return parse_string(v.text);
    }
    if (eat_word("true")) {
      v.k = json_value::kind::boolean;
      v.b = true;
      return {};
    }
    if (eat_word("false")) {
      v.k = json_value::kind::boolean;
      return {};
    }
    if (eat_word("null")) return {};
    v.k = json_value::kind::number;
    if (eat_word("NaN")) {
      v.number = std::numeric_limits<double>::quiet_NaN();
      return {};
    }
    if (eat_word("Infinity")) {
      v.number = std::numeric_limits<double>::infinity();
      return {};
    }
    if (eat_word("-Infinity")) {
      v.number = -std::numeric_limits<double>::infinity();
      return {};
    }
    return parse_number(v);
  }

  // RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  error parse_number(json_value& v) {
    const size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || !is_digit(s_[i_])) return fail("expected a value");
    if (s_[i_] == '0') {
      ++i_;
    } else {
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (i_ >= s_.size() || !is_digit(s_[i_])) return fail("expected a digit after '.'");
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size() || !is_digit(s_[i_])) return fail("expected a digit in the exponent");
      while (i_ < s_.size() && is_digit(s_[i_])) ++i_;
    }
    const std::string_view tok = s_.substr(start, i_ - start);
    auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v.number);
    if (ec == std::errc::result_out_of_range) {
      v.number = std::strtod(std::string(tok).c_str(), nullptr);  // +-inf or 0, as strtod
    } else if (ec != std::errc{} || ptr != tok.data() + tok.size()) {
      i_ = start;
      return fail("expected a number");
    }
    return {};
  }

  error parse_hex4(uint32_t& out) {
    if (i_ + 4 > s_.size()) return fail("expected 4 hex digits after \\u");
    auto [ptr, ec] = std::from_chars(s_.data() + i_, s_.data() + i_ + 4, out, 16);
    if (ec != std::errc{} || ptr != s_.data() + i_ + 4)
      return fail("expected 4 hex digits after \\u");
    i_ += 4;
    return {};
  }

  error parse_string(std::string& out) {
    ++i_;  // the opening quote
    for (;;) {
      // Copy the run of plain bytes at once.
      size_t j = i_;
      while (j < s_.size() && s_[j] != '"' && s_[j] != '\\' &&
             static_cast<unsigned char>(s_[j]) >= 0x20)
        ++j;
      out.append(s_.data() + i_, j - i_);
      i_ = j;
      if (i_ >= s_.size()) return fail("unterminated string: expected '\"' to close it");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return {};
      }
      if (c != '\\') return fail("expected no control character in a string");
      if (++i_ >= s_.size()) return fail("unterminated string: expected an escape after '\\'");
      const char e = s_[i_];
      static constexpr std::string_view from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
      if (size_t f = from.find(e); f != std::string_view::npos) {
        out.push_back(to[f]);
        ++i_;
        continue;
      }
      if (e != 'u')
        return fail(
            "unknown escape in string: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
      ++i_;
      uint32_t cp = 0;
      TROUPE_TRY(parse_hex4(cp));
      if (cp >= 0xDC00 && cp < 0xE000) {
        i_ -= 6;
        return fail("expected no unpaired low surrogate");
      }
      if (cp >= 0xD800 && cp < 0xDC00) {
        if (s_.substr(i_, 2) != "\\u") return fail("expected a low surrogate \\uDC00..\\uDFFF");
        i_ += 2;
        uint32_t lo = 0;
        TROUPE_TRY(parse_hex4(lo));
        if (lo < 0xDC00 || lo >= 0xE000) {
          i_ -= 6;
          return fail("expected a low surrogate \\uDC00..\\uDFFF");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      append_utf8(out, cp);
    }
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    const int extra = cp < 0x80 ? 0 : cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
    static constexpr uint8_t lead[] = {0x00, 0xC0, 0xE0, 0xF0};
    out.push_back(static_cast<char>(lead[extra] | (cp >> (6 * extra))));
    for (int i = extra - 1; i >= 0; --i)
      out.push_back(static_cast<char>(0x80 | ((cp >> (6 * i)) & 0x3F)));
  }

  std::string_view s_;
  std::string_view what_;
  int max_depth_;
  size_t i_ = 0;
};

}  // namespace

expected<json_value> parse_json(std::string_view text, std::string_view what, int max_depth) {
  return json_parser(text, what, max_depth).parse_document();
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);  // bytes >= 0x80 (UTF-8) pass through unchanged
        }
    }
  }
  out.push_back('"');
}

void append_json_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

}  // namespace troupe::pipeline
