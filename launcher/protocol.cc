#include "protocol.h"

#include <cctype>
#include <cstdio>
#include <cstring>

namespace linfsp::launcher {

namespace {

constexpr std::string_view kMagic = "fsp-launcher ";

bool needs_escape(unsigned char c) { return c < 0x20 || c == 0x7f || c == '%'; }

void escape_into(std::string* out, std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (needs_escape(c)) {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Status malformed(const std::string& why) { return Status::error(EPROTO, "malformed message: " + why); }

bool is_key(std::string_view k) {
  if (k.empty() || k.size() > 64) return false;
  for (char c : k) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string Message::get(std::string_view key, std::string fallback) const {
  for (const auto& [k, v] : fields_) {
    if (k == key) return v;
  }
  return fallback;
}

const std::string* Message::find(std::string_view key) const {
  for (const auto& f : fields_) {
    if (f.first == key) return &f.second;
  }
  return nullptr;
}

bool Message::has(std::string_view key) const {
  for (const auto& f : fields_) {
    if (f.first == key) return true;
  }
  return false;
}

std::vector<std::string> Message::all(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : fields_) {
    if (k == key) out.push_back(v);
  }
  return out;
}

void Message::wipe() {
  for (auto& f : fields_) {
    explicit_bzero(f.second.data(), f.second.size());
    f.second.clear();
  }
}

std::vector<Message> Message::records(std::string_view first) const {
  std::vector<Message> out;
  for (const auto& [k, v] : fields_) {
    if (k == first) out.emplace_back();
    if (!out.empty()) out.back().add(k, v);
  }
  return out;
}

std::string Message::body() const {
  std::string out(kMagic);
  out += std::to_string(kProtocolVersion) + "\n";
  for (const auto& [k, v] : fields_) {
    out += k;
    out += '=';
    escape_into(&out, v);
    out += '\n';
  }
  return out;
}

std::string Message::frame() const {
  std::string b = body();
  uint32_t n = static_cast<uint32_t>(b.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                     static_cast<char>(n)};
  return out + b;
}

Result<Message> Message::parse(std::string_view body) {
  if (body.size() > kMaxBody) return malformed("longer than " + std::to_string(kMaxBody) + " bytes");
  size_t eol = body.find('\n');
  if (eol == std::string_view::npos || body.substr(0, kMagic.size()) != kMagic) {
    return malformed("no 'fsp-launcher VERSION' line");
  }
  std::string_view version = body.substr(kMagic.size(), eol - kMagic.size());
  if (version != std::to_string(kProtocolVersion)) {
    return Status::error(EPROTONOSUPPORT, "protocol version '" + std::string(version) + "' not supported (this is " +
                                              std::to_string(kProtocolVersion) + ")");
  }
  Message m;
  size_t pos = eol + 1;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) return malformed("last line has no newline");
    std::string_view line = body.substr(pos, end - pos);
    pos = end + 1;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || !is_key(line.substr(0, eq))) return malformed("a line is not key=value");
    std::string value;
    for (size_t i = eq + 1; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      if (c == '%') {
        int hi = i + 2 < line.size() ? hex_value(line[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(line[i + 2]) : -1;
        if (lo < 0) return malformed("bad %XX escape");
        value.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else if (needs_escape(c)) {
        return malformed("unescaped control character");
      } else {
        value.push_back(static_cast<char>(c));
      }
    }
    m.add(std::string(line.substr(0, eq)), std::move(value));
  }
  return m;
}

uint32_t frame_length(const char p[4]) {
  auto b = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

Message ok_reply() {
  Message m;
  m.add("status", "ok");
  return m;
}

Message error_reply(int err, const std::string& message) {
  Message m;
  m.add("status", "error");
  m.add("errno", std::to_string(err));
  std::string line = message.substr(0, message.find('\n'));
  m.add("message", line);
  return m;
}

Status check_class_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return Status::error(EINVAL, "a class name has 1 to 64 characters");
  if (name[0] == '.') return Status::error(EINVAL, "a class name may not start with '.'");
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return Status::error(
          EINVAL, "class name '" + std::string(name) + "': only letters, digits, '-', '_' and '.' are allowed");
    }
  }
  return Status::ok();
}

Status check_instance_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return Status::error(EINVAL, "an instance name has 1 to 255 bytes");
  if (name == "." || name == "..") return Status::error(EINVAL, "an instance name may not be '.' or '..'");
  for (unsigned char c : name) {
    if (c == '/') return Status::error(EINVAL, "an instance name may not contain '/'");
    if (c < 0x20 || c == 0x7f) return Status::error(EINVAL, "an instance name may not contain control characters");
  }
  return Status::ok();
}

Status check_argument(std::string_view what, std::string_view text) {
  if (text.size() > 4096) return Status::error(EINVAL, std::string(what) + " is longer than 4096 bytes");
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return Status::error(EINVAL, std::string(what) + " contains a control character");
  }
  return Status::ok();
}

}  // namespace linfsp::launcher
