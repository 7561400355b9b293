// Errors as values. A Status is an errno (0 = OK) with an optional message;
// the OK path carries no allocation. Result<T> is a value or a Status.
#pragma once

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace linfsp {

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  // The operation goes on after the call returns and completes through its
  // Pending* object (see linfsp/filesystem.h): WinFsp's STATUS_PENDING.
  static Status pending() { return Status(kPending); }
  static Status error(int err) { return Status(err); }
  static Status error(int err, std::string message) {
    Status s(err);
    s.message_ = std::make_shared<const std::string>(std::move(message));
    return s;
  }

  bool is_ok() const { return err_ == 0; }
  bool is_pending() const { return err_ == kPending; }
  explicit operator bool() const { return is_ok(); }
  // A positive errno value, or 0.
  int err() const { return err_; }
  // The message, or strerror() of the errno when none was given.
  std::string message() const {
    if (message_) return *message_;
    if (err_ == kPending) return "pending";
    return err_ == 0 ? "OK" : std::strerror(err_);
  }

 private:
  static constexpr int kPending = -1;
  explicit Status(int err) : err_(err) {}
  int err_ = 0;
  std::shared_ptr<const std::string> message_;  // null on the OK path
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}             // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}      // NOLINT: implicit by design
  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  Status status() const { return is_ok() ? Status::ok() : std::get<1>(v_); }
  int err() const { return is_ok() ? 0 : std::get<1>(v_).err(); }
  bool is_pending() const { return !is_ok() && std::get<1>(v_).is_pending(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace linfsp
