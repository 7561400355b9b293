#include "protocol.h"

#include <gtest/gtest.h>

namespace linfsp::launcher {
namespace {

TEST(LauncherProtocol, RoundTripsAnyBytes) {
  Message m;
  m.add("op", "start");
  m.add("arg", std::string("a\nb%c\x01\x7f=d", 9));
  m.add("arg", "");
  std::string f = m.frame();
  ASSERT_EQ(frame_length(f.data()), f.size() - 4);
  auto back = Message::parse(std::string_view(f).substr(4));
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back->get("op"), "start");
  ASSERT_EQ(back->all("arg").size(), 2u);
  EXPECT_EQ(back->all("arg")[0], std::string("a\nb%c\x01\x7f=d", 9));
  EXPECT_EQ(back->body().find('\x01'), std::string::npos);  // escaped on the wire
}

TEST(LauncherProtocol, RejectsMalformedBodies) {
  for (std::string body : {std::string(""), std::string("hello\n"), std::string("fsp-launcher 1\nop=start"),
                           std::string("fsp-launcher 1\nnoequals\n"), std::string("fsp-launcher 1\nOP=x\n"),
                           std::string("fsp-launcher 1\nop=%zz\n"), std::string("fsp-launcher 1\nop=a\tb\n")}) {
    auto m = Message::parse(body);
    EXPECT_FALSE(m) << body;
    EXPECT_EQ(m.err(), EPROTO) << body;
  }
  auto v = Message::parse("fsp-launcher 2\nop=list\n");
  EXPECT_EQ(v.err(), EPROTONOSUPPORT);
  EXPECT_FALSE(Message::parse(std::string(kMaxBody + 1, 'x')));
}

TEST(LauncherProtocol, SplitsRecords) {
  Message m = ok_reply();
  m.add("class", "a");
  m.add("pid", "1");
  m.add("class", "b");
  m.add("pid", "2");
  auto r = m.records("class");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].get("pid"), "2");
}

TEST(LauncherProtocol, ValidatesNames) {
  EXPECT_TRUE(check_instance_name("test"));
  EXPECT_TRUE(check_instance_name("with space, and é"));
  EXPECT_TRUE(check_instance_name(std::string(255, 'x')));
  EXPECT_FALSE(check_instance_name(std::string(256, 'x')));
  EXPECT_FALSE(check_instance_name(""));
  EXPECT_FALSE(check_instance_name("a/b"));
  EXPECT_FALSE(check_instance_name(".."));
  EXPECT_FALSE(check_instance_name("a\nb"));
  EXPECT_FALSE(check_instance_name(std::string("a\x1b", 2)));
  EXPECT_TRUE(check_class_name("memfs-64_x.y"));
  EXPECT_FALSE(check_class_name("../etc"));
  EXPECT_FALSE(check_class_name(".hidden"));
  EXPECT_FALSE(check_class_name("a b"));
}

}  // namespace
}  // namespace linfsp::launcher
