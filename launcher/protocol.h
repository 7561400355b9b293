// The launcher's control protocol, spoken over its Unix stream socket.
//
// A message is a 4-byte big-endian body length followed by the body, at most
// kMaxBody bytes. The body is UTF-8 text: a first line "fsp-launcher 1"
// (the protocol name and version), then one "key=value" line per field, in
// order; a key may repeat (arg=, and the records of a list reply). In values,
// '%', '\n', and every other byte below 0x20 or equal to 0x7f is written as
// %XX, so a value is one line and may carry any byte string.
//
// Requests: op=start|stop|list|info, with class=, instance=, mountpoint=,
// options= (mount -o style, comma-separated), arg= (repeated) and secret=
// (start only). Replies: status=ok|error; an error has errno= and message=
// (one line); list and info reply with one record per instance, each
// beginning with class= (fields: class instance pid uid mountpoint started
// state restarts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "linfsp/status.h"

namespace linfsp::launcher {

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxBody = 64 * 1024;
inline constexpr size_t kMaxSecret = 4096;
inline constexpr char kDefaultSocket[] = "/run/linfsp/launcher.sock";
inline constexpr char kDefaultClassDir[] = "/etc/linfsp/classes.d";

class Message {
 public:
  void add(std::string key, std::string value) { fields_.emplace_back(std::move(key), std::move(value)); }
  // The first value of `key`, or `fallback`.
  std::string get(std::string_view key, std::string fallback = "") const;
  bool has(std::string_view key) const;
  // The first value of `key` without a copy (for a secret), or null.
  const std::string* find(std::string_view key) const;
  std::vector<std::string> all(std::string_view key) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }
  // Zeroes and clears every value (a request may carry a secret).
  void wipe();
  // Splits into records, each beginning at a field named `first`.
  std::vector<Message> records(std::string_view first) const;

  // The body (without the length prefix), and the framed message.
  std::string body() const;
  std::string frame() const;
  // Parses a body; EPROTO with a one-line reason when malformed.
  static Result<Message> parse(std::string_view body);

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// The length announced by a 4-byte prefix.
uint32_t frame_length(const char prefix[4]);

Message ok_reply();
Message error_reply(int err, const std::string& message);

// Names: a class (the stem of its file: letters, digits, '-', '_', '.'; not
// starting with '.') and an instance (1..255 bytes, no '/', no control
// characters, not "." or ".."). The message says what is wrong.
Status check_class_name(std::string_view name);
Status check_instance_name(std::string_view name);
// A caller's argument or option: no control characters, at most 4096 bytes.
Status check_argument(std::string_view what, std::string_view text);

}  // namespace linfsp::launcher
