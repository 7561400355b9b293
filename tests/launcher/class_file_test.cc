#include "class_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "mount_guard.h"

namespace linfsp::launcher {
namespace {

using linfsp::testing::TempDir;

class ClassFileTest : public ::testing::Test {
 protected:
  // Writes DIR/NAME.toml and loads it.
  Result<ClassSpec> load(const std::string& text, const std::string& name = "c") {
    path_ = dir_.path() + "/" + name + ".toml";
    std::ofstream(path_) << text;
    return load_class_file(path_);
  }
  // The error of loading `text`, which must fail.
  std::string error(const std::string& text) {
    auto r = load(text);
    EXPECT_FALSE(r) << text;
    return r ? "" : r.status().message();
  }
  TempDir dir_;
  std::string path_;
};

const std::string kExe = "executable = \"/bin/true\"\n";
const std::string kArgs = "arguments = [\"%mountpoint\", \"--ready-fd\", \"%readyfd\"]\n";

TEST_F(ClassFileTest, ReadsEveryKey) {
  auto c = load(kExe +
                    "description = \"d\"\n"
                    "arguments = [\"%mountpoint\", [\"-o\", \"%options\"], \"--ready-fd\", \"%readyfd\", \"%args\"]\n"
                    "working_directory = \"%home\"\n"
                    "allow_users = [\"root\", 64000, \"*\"]\n"
                    "allow_groups = [\"root\"]\n"
                    "run_as = \"caller\"\n"
                    "secret = true\n"
                    "restart = \"on-failure\"\n"
                    "restart_limit = 5\n"
                    "restart_delay = 0.5\n"
                    "start_timeout = 7\n"
                    "stop_timeout = 3\n"
                    "[environment]\n"
                    "FS_NAME = \"%name-%uid\"\n",
                "memfs-64");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->name, "memfs-64");
  EXPECT_TRUE(c->secret);
  EXPECT_TRUE(c->takes_args);
  EXPECT_TRUE(c->takes_options);
  EXPECT_EQ(c->restart, Restart::kOnFailure);
  EXPECT_EQ(c->restart_limit, 5u);
  EXPECT_DOUBLE_EQ(c->stop_timeout, 3);
  ASSERT_EQ(c->environment.size(), 1u);
  Substitution sub;
  sub.name = "test";
  sub.mountpoint = "/mnt/x";
  sub.uid = 1000;
  sub.ready_fd = 3;
  sub.args = {"a", "b c"};
  EXPECT_EQ(expand_arguments(*c, sub),
            (std::vector<std::string>{"/bin/true", "/mnt/x", "--ready-fd", "3", "a", "b c"}));
  sub.options = "ro,noatime";
  EXPECT_EQ(expand_arguments(*c, sub),
            (std::vector<std::string>{"/bin/true", "/mnt/x", "-o", "ro,noatime", "--ready-fd", "3", "a", "b c"}));
  EXPECT_EQ(expand("%name-%uid 100%%", sub), "test-1000 100%");
}

TEST_F(ClassFileTest, EveryErrorNamesFileLineAndKey) {
  std::string e = error(kExe + kArgs + "\nrestart = \"sometimes\"\n");
  EXPECT_EQ(e.rfind(path_ + ":4: restart: expected", 0), 0u) << e;
  e = error(kExe + kArgs + "colour = \"blue\"\n");
  EXPECT_EQ(e.rfind(path_ + ":3: colour: unknown key", 0), 0u) << e;
  e = error(kArgs);
  EXPECT_NE(e.find(":1: executable: missing"), std::string::npos) << e;
  e = error("executable = \"bin/true\"\n" + kArgs);
  EXPECT_NE(e.find(":1: executable: expected an absolute path"), std::string::npos) << e;
  e = error("executable = \"/nonexistent/fs\"\n" + kArgs);
  EXPECT_NE(e.find(":1: executable: '/nonexistent/fs': No such file"), std::string::npos) << e;
  e = error(kExe + "arguments = [\"%mountpoint\",\n  \"%readyfd\", \"%bogus\"]\n");
  EXPECT_NE(e.find(":3: arguments: unknown token '%bogus'"), std::string::npos) << e;  // the item's line
  e = error(kExe + "arguments = [\"%readyfd\", [\"%args\"]]\n");
  EXPECT_NE(e.find(":2: arguments: %args must be a whole item"), std::string::npos) << e;
  e = error(kExe + "arguments = [\"%mountpoint\"]\n");
  EXPECT_NE(e.find(":2: arguments: ready = \"fd\""), std::string::npos) << e;
  e = error(kExe + kArgs + "allow_users = [\"no-such-user-here\"]\n");
  EXPECT_NE(e.find(":3: allow_users: no such user"), std::string::npos) << e;
  e = error(kExe + kArgs + "run_as = \"no-such-user-here\"\n");
  EXPECT_NE(e.find(":3: run_as: no such user"), std::string::npos) << e;
  e = error(kExe + kArgs + "stop_timeout = -1\n");
  EXPECT_NE(e.find(":3: stop_timeout: expected"), std::string::npos) << e;
  e = error(kExe + kArgs + "secret = \"yes\"\n");
  EXPECT_NE(e.find(":3: secret: expected true or false"), std::string::npos) << e;
  e = error(kExe + kArgs + "working_directory = \"relative\"\n");
  EXPECT_NE(e.find(":3: working_directory: expected an absolute path"), std::string::npos) << e;
  e = error(kExe + kArgs + "[environment]\nNOTIFY_SOCKET = \"x\"\n");
  EXPECT_NE(e.find(":4: environment.NOTIFY_SOCKET: reserved"), std::string::npos) << e;
  e = error(kExe + kArgs + "restart = [\n");
  EXPECT_NE(e.find(path_ + ":"), std::string::npos) << e;
  EXPECT_NE(e.find("(syntax)"), std::string::npos) << e;
}

TEST_F(ClassFileTest, ChecksADirectory) {
  std::ofstream(dir_.path() + "/good.toml") << kExe << kArgs;
  std::ofstream(dir_.path() + "/bad.toml") << kExe << kArgs << "x = 1\n";
  std::ofstream(dir_.path() + "/README") << "not a class\n";
  std::vector<ClassSpec> classes;
  std::vector<std::string> errors = check_class_dir(dir_.path(), &classes);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("bad.toml:3: x: unknown key"), std::string::npos);
  ASSERT_EQ(classes.size(), 1u);
  EXPECT_EQ(classes[0].name, "good");
  EXPECT_EQ(load_class(dir_.path(), "missing").err(), ENOENT);
  EXPECT_EQ(load_class(dir_.path(), "../x").err(), EINVAL);
}

TEST_F(ClassFileTest, AllowLists) {
  auto c = load(kExe + kArgs + "allow_users = [64000]\nallow_groups = [64100]\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_TRUE(class_allows(*c, 0, 0, {}));          // root
  EXPECT_TRUE(class_allows(*c, 64000, 64000, {}));  // listed user
  EXPECT_FALSE(class_allows(*c, 64001, 64001, {}));
  EXPECT_TRUE(class_allows(*c, 64001, 64100, {}));       // primary group
  EXPECT_TRUE(class_allows(*c, 64001, 64001, {64100}));  // supplementary group
  auto none = load(kExe + kArgs);
  ASSERT_TRUE(none);
  EXPECT_FALSE(class_allows(*none, 64000, 64000, {}));  // no lists: root only
}

}  // namespace
}  // namespace linfsp::launcher
