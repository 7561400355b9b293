// Command line parsing: every bad input gets a clear one-line error.
#include <gtest/gtest.h>

#include "linfsp/host.h"

namespace linfsp {
namespace {

Status parse(std::vector<std::string> args, HostOptions* o, const std::vector<ExtraOption>& extra = {}) {
  std::vector<char*> argv;
  std::string prog = "prog";
  argv.push_back(prog.data());
  for (auto& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), o, extra);
}

TEST(Options, MountpointAndCommonOptions) {
  HostOptions o;
  ASSERT_TRUE(parse({"/mnt/x", "-d", "-o", "allow_other,ro,fsname=abc", "-t", "4", "--entry-timeout=2.5"}, &o));
  EXPECT_EQ(o.mountpoint, "/mnt/x");
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(o.allow_other);
  EXPECT_TRUE(o.read_only);
  EXPECT_EQ(o.fsname, "abc");
  EXPECT_EQ(o.threads, 4u);
  EXPECT_DOUBLE_EQ(o.entry_timeout, 2.5);
}

TEST(Options, CacheAndTransportSwitches) {
  HostOptions o;
  EXPECT_TRUE(o.keep_cache);
  EXPECT_TRUE(o.auto_inval_data);
  EXPECT_FALSE(o.writeback_cache);
  EXPECT_FALSE(o.uring);
  ASSERT_TRUE(parse({"/m", "-o", "nokeep_cache,noauto_inval_data,writeback_cache,uring"}, &o));
  EXPECT_FALSE(o.keep_cache);
  EXPECT_FALSE(o.auto_inval_data);
  EXPECT_TRUE(o.writeback_cache);
  EXPECT_TRUE(o.uring);
  HostOptions p;
  ASSERT_TRUE(parse({"/m", "--uring"}, &p));
  EXPECT_TRUE(p.uring);
  EXPECT_FALSE(parse({"/m", "-o", "uring=1"}, &p));
}

TEST(Options, MissingMountpoint) {
  HostOptions o;
  Status s = parse({"-d"}, &o);
  EXPECT_FALSE(s);
  EXPECT_EQ(s.message(), "missing mount point");
}

TEST(Options, Rejections) {
  HostOptions o;
  EXPECT_EQ(parse({"/m", "--bogus"}, &o).message(), "unknown option --bogus");
  EXPECT_EQ(parse({"/m", "-o", "frobnicate"}, &o).message(), "unknown mount option 'frobnicate'");
  EXPECT_EQ(parse({"/m", "/n"}, &o).message(), "unexpected argument '/n' (one mount point only)");
  EXPECT_FALSE(parse({"/m", "-t", "0"}, &o));
  EXPECT_FALSE(parse({"/m", "-t", "abc"}, &o));
  EXPECT_FALSE(parse({"/m", "-t"}, &o));
  EXPECT_FALSE(parse({"/m", "--attr-timeout", "-1"}, &o));
  EXPECT_FALSE(parse({"/m", "--attr-timeout", "nan"}, &o));
  EXPECT_FALSE(parse({"/m", "-o", "ro=1"}, &o));
  EXPECT_FALSE(parse({"/m", "-o", "fsname="}, &o));
}

TEST(Options, ExtraOptionsReachTheFileSystem) {
  HostOptions o;
  std::string got;
  bool flag = false;
  std::vector<ExtraOption> extra = {
      {"--size", true, "", [&](const std::string& v) { got = v; return Status::ok(); }},
      {"--flag", false, "", [&](const std::string&) { flag = true; return Status::ok(); }},
      {"--bad", true, "", [&](const std::string&) { return Status::error(EINVAL, "bad value"); }},
  };
  ASSERT_TRUE(parse({"/m", "--size", "10", "--flag"}, &o, extra));
  EXPECT_EQ(got, "10");
  EXPECT_TRUE(flag);
  EXPECT_EQ(parse({"/m", "--bad", "x"}, &o, extra).message(), "bad value");
  EXPECT_FALSE(parse({"/m", "--size"}, &o, extra));
}

}  // namespace
}  // namespace linfsp
