// Validation of notify batches: every malformed batch is rejected whole with
// a clear error and is never read past its end.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "volume/notify.h"

namespace linfsp {
namespace {

// A raw record with a declared size that may lie about the bytes behind it.
std::string record(uint32_t declared_size, uint32_t action, std::string_view name) {
  NotifyRecord rec{declared_size, action, 0, 0};
  std::string out(reinterpret_cast<const char*>(&rec), sizeof(rec));
  out += name;
  out.resize((out.size() + 7) & ~size_t{7}, '\0');
  return out;
}

std::string good(NotifyAction a, std::string_view name) {
  return record(static_cast<uint32_t>(sizeof(NotifyRecord) + name.size()), static_cast<uint32_t>(a), name);
}

Result<std::vector<NotifyChange>> parse(const std::string& bytes) {
  // Copy into an exact-size heap block so ASan catches any read past the end.
  std::unique_ptr<char[]> exact(new char[bytes.size()]);
  std::memcpy(exact.get(), bytes.data(), bytes.size());
  return parse_notify_batch(exact.get(), bytes.size());
}

TEST(NotifyBatch, BuilderOutputParses) {
  NotifyBatch b;
  b.add(NotifyAction::kAdded, "/dir/a").add(NotifyAction::kRemoved, "b").add(NotifyAction::kModified, "/");
  auto r = parse_notify_batch(b.data(), b.size());
  ASSERT_TRUE(r) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].path, "/dir/a");
  EXPECT_EQ((*r)[1].path, "/dir/a/b") << "relative to the last absolute name";
  EXPECT_EQ((*r)[1].action, NotifyAction::kRemoved);
  EXPECT_EQ((*r)[2].path, "/");
}

TEST(NotifyBatch, RelativeNamesFollowTheLatestAbsoluteName) {
  std::string bytes = good(NotifyAction::kAdded, "/x") + good(NotifyAction::kAdded, "y") +
                      good(NotifyAction::kAdded, "/p/q") + good(NotifyAction::kAdded, "r/s");
  auto r = parse(bytes);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[1].path, "/x/y");
  EXPECT_EQ((*r)[3].path, "/p/q/r/s");
}

TEST(NotifyBatch, EmptyOrHugeBatches) {
  EXPECT_EQ(parse_notify_batch(nullptr, 0).err(), EINVAL);
  char c = 0;
  EXPECT_EQ(parse_notify_batch(&c, 0).err(), EINVAL);
  EXPECT_EQ(parse_notify_batch(&c, kNotifyMaxBatch + 1).err(), E2BIG) << "rejected before reading";
  EXPECT_EQ(parse_notify_batch(&c, size_t{1} << 31).err(), E2BIG);
  EXPECT_EQ(parse_notify_batch(&c, size_t{1} << 32).err(), E2BIG);
  EXPECT_EQ(parse_notify_batch(&c, SIZE_MAX).err(), E2BIG);
}

TEST(NotifyBatch, DeclaredSizesThatLie) {
  auto hdr = sizeof(NotifyRecord);
  // Truncated header.
  EXPECT_EQ(parse(std::string(8, '\0')).err(), EINVAL);
  // Size smaller than the header, including zero.
  EXPECT_EQ(parse(record(0, 1, "/a")).err(), EINVAL);
  EXPECT_EQ(parse(record(hdr - 1, 1, "/a")).err(), EINVAL);
  // Size overrunning the buffer, including values that wrap 32-bit sums.
  for (uint64_t size : {uint64_t{64}, uint64_t{1} << 31, (uint64_t{1} << 31) - 1, (uint64_t{1} << 32) - 1,
                        (uint64_t{1} << 32) - 8, (uint64_t{1} << 32) - hdr}) {
    auto r = parse(record(static_cast<uint32_t>(size), 1, "/a"));
    EXPECT_EQ(r.err(), EINVAL) << size;
    EXPECT_NE(r.status().message().find("overruns"), std::string::npos) << r.status().message();
  }
  // A good record followed by a lying one: the whole batch is refused.
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "/ok") + record(4096, 1, "/x")).err(), EINVAL);
}

TEST(NotifyBatch, BadNames) {
  EXPECT_EQ(parse(record(sizeof(NotifyRecord), 1, "")).err(), EINVAL) << "empty name";
  EXPECT_EQ(parse(good(NotifyAction::kAdded, std::string_view("/a\0b", 4))).err(), EINVAL) << "embedded NUL";
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "/a/../b")).err(), EINVAL);
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "/a/./b")).err(), EINVAL);
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "/..")).err(), EINVAL);
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "/a//b")).err(), EINVAL);
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "/a/")).err(), EINVAL);
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "relative")).err(), EINVAL) << "no absolute name before it";
  EXPECT_EQ(parse(good(NotifyAction::kAdded, "/" + std::string(256, 'n'))).err(), ENAMETOOLONG);
  EXPECT_TRUE(parse(good(NotifyAction::kAdded, "/" + std::string(255, 'n'))));
  std::string deep;
  while (deep.size() <= kNotifyMaxPath) deep += "/" + std::string(100, 'd');
  EXPECT_EQ(parse(good(NotifyAction::kAdded, deep)).err(), ENAMETOOLONG);
  // A relative name that makes the resolved path too long.
  std::string half = "/" + std::string(200, 'h');
  for (int i = 0; i < 10; ++i) half += "/" + std::string(200, 'h');
  EXPECT_EQ(parse(good(NotifyAction::kAdded, half) + good(NotifyAction::kAdded, half.substr(1))).err(),
            ENAMETOOLONG);
}

TEST(NotifyBatch, UnknownActions) {
  EXPECT_EQ(parse(record(18, 0, "/a")).err(), EINVAL);
  EXPECT_EQ(parse(record(18, 7, "/a")).err(), EINVAL);
  EXPECT_EQ(parse(record(18, 0xffffffff, "/a")).err(), EINVAL);
}

TEST(NotifyBatch, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 96, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    if (bytes.size() >= 4 && rng() % 2) {
      uint32_t small = rng() % 64;
      std::memcpy(bytes.data(), &small, 4);  // plausible sizes reach deeper checks
    }
    (void)parse(bytes);
  }
}

}  // namespace
}  // namespace linfsp
