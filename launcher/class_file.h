// File system classes: one TOML file per class in the class directory
// (/etc/linfsp/classes.d/NAME.toml), written by an administrator. The class
// says what program serves an instance, with which arguments, as whom, and
// who may start it. docs/launcher.md is the reference of the keys.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "linfsp/status.h"

namespace linfsp::launcher {

enum class Restart { kNever, kOnFailure, kAlways };
enum class Readiness { kFd, kMount };

// One item of `arguments`: a single template string, or a group (an inner
// array) that is passed only when none of its items expands to "".
struct ArgumentItem {
  std::vector<std::string> parts;
  bool group = false;
};

struct ClassSpec {
  std::string name;  // the file's stem
  std::string file;
  std::string description;
  std::string executable;  // absolute
  std::vector<ArgumentItem> arguments;
  std::string working_directory = "/";
  std::vector<std::pair<std::string, std::string>> environment;
  // allow_users / allow_groups: names or numeric ids; "*" allows everyone.
  // Both empty: root only.
  std::vector<std::string> allow_users;
  std::vector<std::string> allow_groups;
  // run_as: empty for the caller, else a user name resolved when the file
  // is read (its uid, primary gid and supplementary groups).
  std::string run_as;
  bool secret = false;  // the instance reads a secret on stdin
  Readiness ready = Readiness::kFd;
  Restart restart = Restart::kNever;
  unsigned restart_limit = 3;
  double restart_delay = 1.0;  // seconds
  double start_timeout = 30.0;
  double stop_timeout = 10.0;
  bool takes_args = false;     // %args appears in `arguments`
  bool takes_options = false;  // %options appears in `arguments`
};

// What the template strings are expanded with.
struct Substitution {
  std::string name, mountpoint, user, home, options;
  uid_t uid = 0;
  gid_t gid = 0;
  int ready_fd = -1;
  std::vector<std::string> args;  // the caller's extra arguments (%args)
};

// Reads and validates one class file. Every error is one line
// "FILE:LINE: KEY: what is wrong".
Result<ClassSpec> load_class_file(const std::string& path);
// Loads CLASS from the directory (DIR/CLASS.toml); ENOENT when there is none.
Result<ClassSpec> load_class(const std::string& dir, const std::string& name);
// Validates every *.toml file in the directory: the errors, one per line.
std::vector<std::string> check_class_dir(const std::string& dir, std::vector<ClassSpec>* classes = nullptr);

// The argv (program first) and the extra environment of an instance.
std::vector<std::string> expand_arguments(const ClassSpec& spec, const Substitution& sub);
std::string expand(const std::string& text, const Substitution& sub);

// May the caller (uid, primary gid, supplementary groups) use this class?
bool class_allows(const ClassSpec& spec, uid_t uid, gid_t gid, const std::vector<gid_t>& groups);

}  // namespace linfsp::launcher
