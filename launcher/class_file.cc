// Reading class files with toml++. Validation is strict: unknown keys, wrong
// types, unknown %-tokens, relative paths and unknown users are errors, each
// naming the file, the line and the key, so that a typo is found when the
// daemon starts (or by `fsp-launcherd --check`), not when a user mounts.
#include "class_file.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "protocol.h"

namespace linfsp::launcher {

namespace {

constexpr size_t kMaxClassFile = 64 * 1024;

const std::set<std::string> kTokens = {"name", "mountpoint", "uid",     "gid", "user",
                                       "home", "options",    "readyfd", "args"};

class Checker {
 public:
  explicit Checker(std::string file) : file_(std::move(file)) {}
  Status fail(const toml::node* at, const std::string& key, const std::string& what) const {
    int line = at != nullptr ? static_cast<int>(at->source().begin.line) : 1;
    return Status::error(EINVAL, file_ + ":" + std::to_string(line) + ": " + key + ": " + what);
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

// Checks the %-tokens of one template string; `whole` is set when the
// string is exactly "%args" (the only place %args may appear).
Status check_template(const Checker& c, const toml::node* at, const std::string& key, const std::string& text,
                      bool args_allowed) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (i + 1 < text.size() && text[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < text.size() && std::islower(static_cast<unsigned char>(text[j]))) ++j;
    std::string token = text.substr(i + 1, j - i - 1);
    if (!kTokens.count(token)) {
      return c.fail(at, key,
                    "unknown token '%" + token + "' (known: %name %mountpoint %uid %gid %user %home " +
                        "%options %readyfd %args %%)");
    }
    if (token == "args" && (!args_allowed || text != "%args")) {
      return c.fail(at, key, "%args must be a whole item of 'arguments', outside any group");
    }
    i = j - 1;
  }
  return Status::ok();
}

Result<std::string> get_string(const Checker& c, const toml::node& n, const std::string& key) {
  if (auto v = n.value<std::string>(); v && n.is_string()) return *v;
  return c.fail(&n, key, "expected a string");
}

Result<double> get_seconds(const Checker& c, const toml::node& n, const std::string& key, double min, double max) {
  if (!n.is_number()) return c.fail(&n, key, "expected a number of seconds");
  double v = *n.value<double>();
  if (!(v >= min && v <= max)) {
    std::ostringstream s;
    s << "expected " << min << " to " << max << " seconds";
    return c.fail(&n, key, s.str());
  }
  return v;
}

Status get_id_list(const Checker& c, const toml::node& n, const std::string& key, bool users,
                   std::vector<std::string>* out) {
  const toml::array* a = n.as_array();
  if (a == nullptr) return c.fail(&n, key, "expected an array of names or ids");
  for (const toml::node& item : *a) {
    std::string name;
    if (item.is_integer()) {
      int64_t id = *item.value<int64_t>();
      if (id < 0 || id > 0xfffffffe) return c.fail(&item, key, "id out of range");
      name = std::to_string(id);
    } else if (item.is_string()) {
      name = *item.value<std::string>();
      if (name != "*" && (users ? getpwnam(name.c_str()) == nullptr : getgrnam(name.c_str()) == nullptr)) {
        return c.fail(&item, key, std::string("no such ") + (users ? "user" : "group") + " '" + name + "'");
      }
    } else {
      return c.fail(&item, key, "expected a name (string) or an id (integer)");
    }
    out->push_back(name);
  }
  return Status::ok();
}

Status read_arguments(const Checker& c, const toml::node& n, ClassSpec* spec) {
  const toml::array* a = n.as_array();
  if (a == nullptr) return c.fail(&n, "arguments", "expected an array of strings and groups (inner arrays)");
  for (const toml::node& item : *a) {
    ArgumentItem arg;
    if (const toml::array* group = item.as_array()) {
      arg.group = true;
      if (group->empty()) return c.fail(&item, "arguments", "an empty group");
      for (const toml::node& part : *group) {
        if (!part.is_string()) return c.fail(&part, "arguments", "a group holds strings only");
        arg.parts.push_back(*part.value<std::string>());
        if (Status s = check_template(c, &part, "arguments", arg.parts.back(), false); !s) return s;
      }
    } else if (item.is_string()) {
      arg.parts.push_back(*item.value<std::string>());
      if (Status s = check_template(c, &item, "arguments", arg.parts.back(), true); !s) return s;
    } else {
      return c.fail(&item, "arguments", "expected a string or a group (an array of strings)");
    }
    for (const std::string& p : arg.parts) {
      if (p == "%args") spec->takes_args = true;
      if (p.find("%options") != std::string::npos) spec->takes_options = true;
    }
    spec->arguments.push_back(std::move(arg));
  }
  return Status::ok();
}

bool is_env_name(const std::string& k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(),
                     [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; });
}

Result<ClassSpec> parse_class(const Checker& c, const toml::table& root, ClassSpec spec) {
  bool have_executable = false, have_arguments = false;
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (key == "description") {
      auto v = get_string(c, node, key);
      if (!v) return v.status();
      spec.description = *v;
    } else if (key == "executable") {
      auto v = get_string(c, node, key);
      if (!v) return v.status();
      struct stat st {};
      if (v->empty() || (*v)[0] != '/') return c.fail(&node, key, "expected an absolute path");
      if (stat(v->c_str(), &st) != 0) return c.fail(&node, key, "'" + *v + "': " + std::strerror(errno));
      if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
        return c.fail(&node, key, "'" + *v + "' is not an executable file");
      }
      spec.executable = *v;
      have_executable = true;
    } else if (key == "arguments") {
      if (Status s = read_arguments(c, node, &spec); !s) return s;
      have_arguments = true;
    } else if (key == "working_directory") {
      auto v = get_string(c, node, key);
      if (!v) return v.status();
      if (Status s = check_template(c, &node, key, *v, false); !s) return s;
      if (v->rfind("/", 0) != 0 && v->rfind("%home", 0) != 0) {
        return c.fail(&node, key, "expected an absolute path (or one starting with %home)");
      }
      spec.working_directory = *v;
    } else if (key == "environment") {
      const toml::table* t = node.as_table();
      if (t == nullptr) return c.fail(&node, key, "expected a table of NAME = \"value\"");
      for (const auto& [ek, ev] : *t) {
        std::string name(ek.str());
        if (!is_env_name(name)) return c.fail(&ev, key + "." + name, "not a valid variable name");
        if (name == "NOTIFY_SOCKET") return c.fail(&ev, key + "." + name, "reserved for the daemon's own manager");
        auto v = get_string(c, ev, key + "." + name);
        if (!v) return v.status();
        if (Status s = check_template(c, &ev, key + "." + name, *v, false); !s) return s;
        spec.environment.emplace_back(name, *v);
      }
    } else if (key == "allow_users" || key == "allow_groups") {
      bool users = key == "allow_users";
      if (Status s = get_id_list(c, node, key, users, users ? &spec.allow_users : &spec.allow_groups); !s) return s;
    } else if (key == "run_as") {
      auto v = get_string(c, node, key);
      if (!v) return v.status();
      if (*v != "caller" && getpwnam(v->c_str()) == nullptr) {
        return c.fail(&node, key, "no such user '" + *v + "' (or \"caller\")");
      }
      spec.run_as = *v == "caller" ? "" : *v;
    } else if (key == "secret") {
      if (!node.is_boolean()) return c.fail(&node, key, "expected true or false");
      spec.secret = *node.value<bool>();
    } else if (key == "ready") {
      auto v = get_string(c, node, key);
      if (!v) return v.status();
      if (*v == "fd") {
        spec.ready = Readiness::kFd;
      } else if (*v == "mount") {
        spec.ready = Readiness::kMount;
      } else {
        return c.fail(&node, key, "expected \"fd\" or \"mount\"");
      }
    } else if (key == "restart") {
      auto v = get_string(c, node, key);
      if (!v) return v.status();
      if (*v == "never") {
        spec.restart = Restart::kNever;
      } else if (*v == "on-failure") {
        spec.restart = Restart::kOnFailure;
      } else if (*v == "always") {
        spec.restart = Restart::kAlways;
      } else {
        return c.fail(&node, key, "expected \"never\", \"on-failure\" or \"always\"");
      }
    } else if (key == "restart_limit") {
      if (!node.is_integer() || *node.value<int64_t>() < 0 || *node.value<int64_t>() > 1000) {
        return c.fail(&node, key, "expected a whole number from 0 to 1000");
      }
      spec.restart_limit = static_cast<unsigned>(*node.value<int64_t>());
    } else if (key == "restart_delay" || key == "start_timeout" || key == "stop_timeout") {
      auto v = get_seconds(c, node, key, key == "restart_delay" ? 0 : 0.1, 3600);
      if (!v) return v.status();
      (key == "restart_delay"   ? spec.restart_delay
       : key == "start_timeout" ? spec.start_timeout
                                : spec.stop_timeout) = *v;
    } else {
      return c.fail(&node, key, "unknown key");
    }
  }
  if (!have_executable) return c.fail(nullptr, "executable", "missing (the program that serves an instance)");
  if (!have_arguments) spec.arguments.push_back({{"%mountpoint"}, false});
  if (spec.ready == Readiness::kFd) {
    bool has_fd = false;
    for (const ArgumentItem& a : spec.arguments) {
      for (const std::string& p : a.parts) has_fd |= p.find("%readyfd") != std::string::npos;
    }
    const toml::node* at = root.get("arguments");
    if (!has_fd) return c.fail(at, "arguments", "ready = \"fd\" (the default) needs %readyfd in the arguments");
  }
  return spec;
}

}  // namespace

Result<ClassSpec> load_class_file(const std::string& path) {
  Checker c(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(errno ? errno : ENOENT, path + ": " + std::strerror(errno ? errno : ENOENT));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > kMaxClassFile) return c.fail(nullptr, "(file)", "larger than 64 KiB");
  ClassSpec spec;
  spec.file = path;
  std::string base = path.substr(path.rfind('/') + 1);
  spec.name = base.substr(0, base.size() - (base.size() > 5 && base.ends_with(".toml") ? 5 : 0));
  if (Status s = check_class_name(spec.name); !s) return c.fail(nullptr, "(file name)", s.message());
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::error(
        EINVAL, path + ":" + std::to_string(e.source().begin.line) + ": (syntax): " + std::string(e.description()));
  }
  return parse_class(c, root, std::move(spec));
}

Result<ClassSpec> load_class(const std::string& dir, const std::string& name) {
  if (Status s = check_class_name(name); !s) return s;
  std::string path = dir + "/" + name + ".toml";
  if (access(path.c_str(), F_OK) != 0) return Status::error(ENOENT, "no class '" + name + "'");
  return load_class_file(path);
}

std::vector<std::string> check_class_dir(const std::string& dir, std::vector<ClassSpec>* classes) {
  std::vector<std::string> errors;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return {dir + ": " + std::strerror(errno)};
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.ends_with(".toml") && n[0] != '.') names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    auto spec = load_class_file(dir + "/" + n);
    if (!spec) {
      errors.push_back(spec.status().message());
    } else if (classes != nullptr) {
      classes->push_back(std::move(*spec));
    }
  }
  return errors;
}

namespace {

// The value of one token; the file was validated, so no other token comes.
std::string token_value(const std::string& token, const Substitution& sub) {
  if (token == "name") return sub.name;
  if (token == "mountpoint") return sub.mountpoint;
  if (token == "uid") return std::to_string(sub.uid);
  if (token == "gid") return std::to_string(sub.gid);
  if (token == "user") return sub.user;
  if (token == "home") return sub.home;
  if (token == "options") return sub.options;
  if (token == "readyfd") return std::to_string(sub.ready_fd);
  return "";
}

}  // namespace

std::string expand(const std::string& text, const Substitution& sub) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < text.size() && std::islower(static_cast<unsigned char>(text[j]))) ++j;
    std::string token = text.substr(i + 1, j - i - 1);
    out += token_value(token, sub);
    i = j - 1;
  }
  return out;
}

std::vector<std::string> expand_arguments(const ClassSpec& spec, const Substitution& sub) {
  std::vector<std::string> argv = {spec.executable};
  for (const ArgumentItem& item : spec.arguments) {
    if (!item.group && item.parts[0] == "%args") {
      argv.insert(argv.end(), sub.args.begin(), sub.args.end());
      continue;
    }
    std::vector<std::string> out;
    for (const std::string& p : item.parts) out.push_back(expand(p, sub));
    if (item.group && std::any_of(out.begin(), out.end(), [](const std::string& s) { return s.empty(); })) continue;
    argv.insert(argv.end(), out.begin(), out.end());
  }
  return argv;
}

bool class_allows(const ClassSpec& spec, uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  if (uid == 0) return true;
  for (const std::string& u : spec.allow_users) {
    if (u == "*" || u == std::to_string(uid)) return true;
    if (passwd* pw = getpwnam(u.c_str()); pw != nullptr && pw->pw_uid == uid) return true;
  }
  for (const std::string& g : spec.allow_groups) {
    gid_t want;
    if (g == "*") return true;
    if (!g.empty() && std::isdigit(static_cast<unsigned char>(g[0]))) {
      want = static_cast<gid_t>(std::stoul(g));
    } else if (group* gr = getgrnam(g.c_str())) {
      want = gr->gr_gid;
    } else {
      continue;
    }
    if (want == gid || std::find(groups.begin(), groups.end(), want) != groups.end()) return true;
  }
  return false;
}

}  // namespace linfsp::launcher
