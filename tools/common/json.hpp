// JSON Lines output: one object per line, with stable field names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace green::tools {

/// Appends `s` to `out` as a JSON string literal. Control characters are
/// escaped; invalid UTF-8 bytes become U+FFFD, so the line always parses.
void append_json_string(std::string& out, std::string_view s);

/// A URL as a JSON field holds it: bytes that are not UTF-8 become %XX, the
/// URL's own escape (the same request to a server), where a JSON string
/// would have to lose them to U+FFFD. Everything else is left as it is.
std::string url_for_json(std::string_view url);

/// Builds one JSON object (nested arrays and objects allowed):
///
///     JsonWriter j;
///     j.field("url", url).field("status", 200).begin_array("answers");
///     j.value("1.2.3.4").end_array();
///     out.line(j.finish());
class JsonWriter {
 public:
  JsonWriter();

  JsonWriter& field(std::string_view key, std::string_view v);
  JsonWriter& field(std::string_view key, const char* v) { return field(key, std::string_view(v)); }
  JsonWriter& field(std::string_view key, const std::string& v) { return field(key, std::string_view(v)); }
  JsonWriter& field(std::string_view key, std::int64_t v);
  JsonWriter& field(std::string_view key, std::uint64_t v);
  JsonWriter& field(std::string_view key, int v) { return field(key, static_cast<std::int64_t>(v)); }
  JsonWriter& field(std::string_view key, unsigned v) { return field(key, static_cast<std::uint64_t>(v)); }
  JsonWriter& field(std::string_view key, double v);
  JsonWriter& field(std::string_view key, bool v);
  JsonWriter& field_null(std::string_view key);
  /// `json` must already be valid JSON.
  JsonWriter& field_raw(std::string_view key, std::string_view json);

  JsonWriter& begin_object(std::string_view key);
  JsonWriter& begin_array(std::string_view key);
  /// Array elements.
  JsonWriter& value(std::string_view v);
  JsonWriter& value(std::int64_t v);
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& end_array();

  /// Closes whatever is open and returns the text (no newline).
  std::string finish();

 private:
  void comma();
  void key(std::string_view k);
  std::string out_;
  std::vector<char> open_;  // '}' or ']' per nesting level
  bool first_ = true;
};

}  // namespace green::tools
