// Micro-benchmarks of the hot paths: the Resource, the node table, notify
// batch validation, and request decoding and dispatch. Run: build/bench/micro_bench
#include <benchmark/benchmark.h>

#include <cstring>

#include "kernel/channel.h"
#include "volume/node_table.h"
#include "volume/notify.h"
#include "volume/resource.h"
#include "volume/volume.h"

namespace linfsp {
namespace {

void BM_ResourceSharedUncontended(benchmark::State& state) {
  static Resource r;
  for (auto _ : state) {
    r.acquire_shared();
    r.release();
  }
}
BENCHMARK(BM_ResourceSharedUncontended)->Threads(1)->Threads(2);

void BM_ResourceExclusiveUncontended(benchmark::State& state) {
  Resource r;
  for (auto _ : state) {
    r.acquire_exclusive();
    r.release();
  }
}
BENCHMARK(BM_ResourceExclusiveUncontended);

void BM_NodeTablePathDepth6(benchmark::State& state) {
  NodeTable t(1);
  Node* n = t.root();
  for (int i = 0; i < 6; ++i) n = t.add_lookup(n, "directory" + std::to_string(i), 100 + i);
  std::string path;
  for (auto _ : state) {
    t.path(n, &path);
    benchmark::DoNotOptimize(path.data());
  }
}
BENCHMARK(BM_NodeTablePathDepth6);

void BM_NodeTableLookupKnownName(benchmark::State& state) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "dir", 2);
  for (int i = 0; i < 10000; ++i) t.add_lookup(d, "f" + std::to_string(i), 10 + i);
  int i = 0;
  for (auto _ : state) {
    std::string name = "f" + std::to_string(i++ % 10000);
    Node* n = t.add_lookup(d, name, 10 + (i - 1) % 10000);
    t.forget(n->nodeid, 1);
  }
}
BENCHMARK(BM_NodeTableLookupKnownName);

void BM_NotifyBatchParse(benchmark::State& state) {
  NotifyBatch b;
  b.add(NotifyAction::kModified, "/some/directory");
  for (int i = 0; i < 9; ++i) b.add(NotifyAction::kAttributes, "file" + std::to_string(i));
  for (auto _ : state) benchmark::DoNotOptimize(parse_notify_batch(b.data(), b.size()));
}
BENCHMARK(BM_NotifyBatchParse);

// Decoding and dispatch of a GETATTR, with a file system and a reply sink
// that do nothing.
class NullSink final : public kernel::ReplySink {
 public:
  Status send(std::span<const iovec> iov) override {
    benchmark::DoNotOptimize(iov.data());
    return Status::ok();
  }
  std::unique_ptr<kernel::ReplySink> detach() override { return nullptr; }
};

class StatFs final : public FileSystemBase {
 public:
  Status get_file_info(const Caller&, const std::string&, void*, FileInfo* info) override {
    info->ino = 1;
    info->mode = S_IFDIR | 0755;
    return Status::ok();
  }
};

void BM_DispatchGetattr(benchmark::State& state) {
  StatFs fs;
  Volume volume(fs, VolumeOptions{});
  session::NotificationQueue notifications(false);
  if (!volume.open_root(notifications)) return state.SkipWithError("open_root");
  session::Session session(volume, false);
  NullSink sink;
  struct {
    fuse_in_header h;
    fuse_getattr_in in;
  } msg{};
  msg.h.len = sizeof(msg);
  msg.h.opcode = FUSE_GETATTR;
  msg.h.nodeid = NodeTable::kRootId;
  for (auto _ : state) {
    msg.h.unique += 2;
    kernel::Request req{msg.h, reinterpret_cast<const char*>(&msg.in), sizeof(msg.in)};
    kernel::Reply reply(sink, msg.h.unique);
    session.handle(req, reply);
  }
}
BENCHMARK(BM_DispatchGetattr);

}  // namespace
}  // namespace linfsp

BENCHMARK_MAIN();
