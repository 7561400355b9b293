// Command line parsing: every bad input gets a clear one-line error.
#include <gtest/gtest.h>

#include "linfsp/host.h"

namespace linfsp {
namespace {

Status parse(std::vector<std::string> args, HostOptions* o, const std::vector<Option>& extra = {}) {
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

TEST(Options, FileSystemOptionsReachTheFileSystem) {
  HostOptions o;
  std::string got;
  bool flag = false;
  std::vector<Option> extra = {
      {{"--size"}, "N", "", [&](const std::string& v) { got = v; return Status::ok(); }},
      {{"--flag"}, "", "", [&](const std::string&) { flag = true; return Status::ok(); }},
      {{"--bad"}, "X", "", [&](const std::string&) { return Status::error(EINVAL, "bad value"); }},
  };
  ASSERT_TRUE(parse({"/m", "--size", "10", "--flag"}, &o, extra));
  EXPECT_EQ(got, "10");
  EXPECT_TRUE(flag);
  ASSERT_TRUE(parse({"/m", "--size=12"}, &o, extra));
  EXPECT_EQ(got, "12");
  // The parser names the option in front of the setter's complaint.
  EXPECT_EQ(parse({"/m", "--bad", "x"}, &o, extra).message(), "--bad: bad value");
  EXPECT_EQ(parse({"/m", "--size"}, &o, extra).message(), "option --size needs a value");
  EXPECT_EQ(parse({"/m", "--flag=1"}, &o, extra).message(), "option --flag takes no value");
}

// A file system declares a -o key in the same form, sharing the setter of its
// long option (memfs: --max-nodes N and -o max_nodes=N).
TEST(Options, FileSystemDeclaresMountKeys) {
  uint64_t nodes = 0;
  bool demo = false;
  std::vector<Option> extra = {
      {{"--max-nodes", "max_nodes"}, "N", "most files", set_count(&nodes, 1, 1000)},
      {{"demo"}, "", "a -o key only", set_flag(&demo, true)},
  };
  HostOptions o;
  ASSERT_TRUE(parse({"/m", "-o", "ro,max_nodes=7,demo"}, &o, extra));
  EXPECT_EQ(nodes, 7u);
  EXPECT_TRUE(demo);
  EXPECT_TRUE(o.read_only);
  ASSERT_TRUE(parse({"/m", "--max-nodes", "9"}, &o, extra));
  EXPECT_EQ(nodes, 9u);
  EXPECT_EQ(parse({"/m", "-o", "max_nodes=lots"}, &o, extra).message(),
            "max_nodes: expected a whole number from 1 to 1000, got 'lots'");
  EXPECT_EQ(parse({"/m", "-o", "max_nodes"}, &o, extra).message(),
            "mount option 'max_nodes' needs a value (max_nodes=N)");
  EXPECT_EQ(parse({"/m", "-o", "demo=1"}, &o, extra).message(), "mount option 'demo' takes no value");
  // Without the file system's table the key is unknown.
  EXPECT_EQ(parse({"/m", "-o", "max_nodes=7"}, &o).message(), "unknown mount option 'max_nodes'");
  std::string help = usage("fs", extra);
  EXPECT_NE(help.find("--max-nodes N, -o max_nodes=N"), std::string::npos) << help;
  EXPECT_NE(help.find("demo"), std::string::npos) << help;
}

// usage() is generated from the table: every spelling of every option is in it.
TEST(Options, UsageListsEveryOptionOfTheTable) {
  HostOptions o;
  std::string help = usage("prog");
  for (const Option& opt : host_options(&o)) {
    ASSERT_FALSE(opt.names.empty());
    EXPECT_FALSE(opt.help.empty()) << opt.names[0];
    for (const std::string& name : opt.names) {
      EXPECT_NE(help.find(name), std::string::npos) << name << " missing from:\n" << help;
    }
  }
  // Options with a value show its placeholder.
  EXPECT_NE(help.find("-t, --threads N"), std::string::npos) << help;
  EXPECT_NE(help.find("--entry-timeout S, -o entry_timeout=S"), std::string::npos) << help;
  EXPECT_NE(help.find("max_write=BYTES"), std::string::npos) << help;
}

// Each table entry with a long spelling and a -o key sets the same field.
TEST(Options, LongOptionsAndMountKeysAgree) {
  HostOptions a, b;
  ASSERT_TRUE(parse({"/m", "--entry-timeout", "3", "--attr-timeout=4", "--negative-timeout", "5", "--uring", "-d"}, &a));
  ASSERT_TRUE(parse({"/m", "-o", "entry_timeout=3,attr_timeout=4,negative_timeout=5,uring,debug"}, &b));
  EXPECT_DOUBLE_EQ(a.entry_timeout, 3);
  EXPECT_DOUBLE_EQ(b.entry_timeout, 3);
  EXPECT_DOUBLE_EQ(a.attr_timeout, b.attr_timeout);
  EXPECT_DOUBLE_EQ(a.negative_timeout, 5);
  EXPECT_DOUBLE_EQ(b.negative_timeout, 5);
  EXPECT_TRUE(a.uring && b.uring && a.debug && b.debug);
  // -oLIST, as mount(8) writes it.
  HostOptions c;
  ASSERT_TRUE(parse({"/m", "-oallow_other,max_write=65536"}, &c));
  EXPECT_TRUE(c.allow_other);
  EXPECT_EQ(c.max_write, 65536u);
}

TEST(Options, DefaultMountFlagsAreNosuidNodev) {
  HostOptions o;
  EXPECT_EQ(o.mount_flags, kMountNoSuid | kMountNoDev);
  ASSERT_TRUE(parse({"/m"}, &o));
  EXPECT_EQ(o.mount_flags, kMountNoSuid | kMountNoDev);
  ASSERT_TRUE(parse({"/m", "-o", "suid,dev"}, &o));
  EXPECT_EQ(o.mount_flags, 0u);
}

struct FlagCase {
  std::string options;
  uint32_t flags;  // the whole mount_flags afterwards
};

TEST(Options, GenericMountOptionsMapToMountFlags) {
  const uint32_t base = kMountNoSuid | kMountNoDev;
  std::vector<FlagCase> cases = {
      {"nosuid,nodev", base},
      {"suid", kMountNoDev},
      {"dev", kMountNoSuid},
      {"noexec", base | kMountNoExec},
      {"noexec,exec", base},
      {"noatime", base | kMountNoAtime},
      {"noatime,atime", base},
      {"relatime", base | kMountRelatime},
      {"noatime,relatime", base | kMountRelatime},
      {"strictatime", base | kMountStrictAtime},
      {"relatime,strictatime", base | kMountStrictAtime},
      {"strictatime,noatime", base | kMountNoAtime},
      {"nodiratime", base | kMountNoDirAtime},
      {"nodiratime,diratime", base},
      {"lazytime", base | kMountLazyTime},
      {"lazytime,nolazytime", base},
      {"sync", base | kMountSynchronous},
      {"sync,async", base},
      {"dirsync", base | kMountDirSync},
      {"noexec,nosuid,noatime,dirsync", base | kMountNoExec | kMountNoAtime | kMountDirSync},
  };
  for (const auto& c : cases) {
    HostOptions o;
    ASSERT_TRUE(parse({"/m", "-o", c.options}, &o)) << c.options;
    EXPECT_EQ(o.mount_flags, c.flags) << c.options;
  }
  HostOptions o;
  ASSERT_TRUE(parse({"/m", "-o", "ro"}, &o));
  EXPECT_TRUE(o.read_only);
  ASSERT_TRUE(parse({"/m", "-o", "rw"}, &o));
  EXPECT_FALSE(o.read_only);
  EXPECT_FALSE(parse({"/m", "-o", "noexec=1"}, &o));
}

// What mount(8) and /etc/fstab pass along: accepted, no effect.
TEST(Options, FstabWordsAndXKeysAreAccepted) {
  HostOptions o;
  ASSERT_TRUE(parse({"/m", "-o", "defaults,auto,noauto,user,user=alice,users,nouser,nofail,_netdev"}, &o));
  ASSERT_TRUE(parse({"/m", "-o", "x-foo,x-systemd.automount,x-systemd.device-timeout=10,x-gvfs-show"}, &o));
  HostOptions fresh;
  EXPECT_EQ(o.mount_flags, fresh.mount_flags);
  EXPECT_EQ(o.read_only, fresh.read_only);
  EXPECT_EQ(o.allow_other, fresh.allow_other);
  // Only the x- prefix is a wildcard.
  EXPECT_EQ(parse({"/m", "-o", "xfoo"}, &o).message(), "unknown mount option 'xfoo'");
  EXPECT_EQ(parse({"/m", "-o", "y-foo"}, &o).message(), "unknown mount option 'y-foo'");
}

TEST(Options, EmptySubtypeMeansPlainFuse) {
  HostOptions o;
  o.subtype = "memfs";
  ASSERT_TRUE(parse({"/m", "-o", "subtype="}, &o));
  EXPECT_EQ(o.subtype, "");
  ASSERT_TRUE(parse({"/m", "-o", "subtype=abc"}, &o));
  EXPECT_EQ(o.subtype, "abc");
  EXPECT_FALSE(parse({"/m", "-o", "subtype=a b"}, &o));
  EXPECT_EQ(parse({"/m", "-o", "subtype"}, &o).message(), "mount option 'subtype' needs a value (subtype=NAME)");
  // An fsname still cannot be empty: /proc/mounts needs a source.
  EXPECT_EQ(parse({"/m", "-o", "fsname="}, &o).message(),
            "fsname: expected a name without commas or spaces, got ''");
}

TEST(Options, HelpAndVersionNeedNoMountPoint) {
  HostOptions h;
  ASSERT_TRUE(parse({"--help"}, &h));
  EXPECT_TRUE(h.help);
  HostOptions v;
  ASSERT_TRUE(parse({"--version", "--no-such-option"}, &v));
  EXPECT_TRUE(v.version);
  EXPECT_FALSE(version().empty());
  EXPECT_EQ(version(), LINFSP_TEST_VERSION);
}

TEST(Options, BadValuesGiveOneClearLine) {
  HostOptions o;
  EXPECT_EQ(parse({"/m", "--entry-timeout", "soon"}, &o).message(),
            "--entry-timeout: expected a number of seconds, got 'soon'");
  EXPECT_EQ(parse({"/m", "-o", "attr_timeout=-1"}, &o).message(),
            "attr_timeout: expected a number of seconds, got '-1'");
  EXPECT_EQ(parse({"/m", "-t", "0"}, &o).message(), "-t: expected a whole number from 1 to 256, got '0'");
  EXPECT_EQ(parse({"/m", "-o", "max_write=1"}, &o).message(),
            "max_write: expected a whole number from 4096 to 1048576, got '1'");
  EXPECT_EQ(parse({"/m", "-o"}, &o).message(), "option -o needs a value");
  for (const std::string& m : {parse({"/m", "-t", "x"}, &o).message(), parse({"/m", "-o", "bogus"}, &o).message()}) {
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace linfsp
