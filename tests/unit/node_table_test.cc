// The node table: lookup counting, hard links, path building, renames.
#include "volume/node_table.h"

#include <gtest/gtest.h>
#include <linux/fs.h>

#include <thread>
#include <vector>

namespace linfsp {
namespace {

std::string path_of(NodeTable& t, Node* n) {
  std::string p;
  return t.path(n, &p) ? p : "<none>";
}

TEST(NodeTable, RootIsNodeOneWithPathSlash) {
  NodeTable t(100);
  EXPECT_EQ(t.root()->nodeid, NodeTable::kRootId);
  EXPECT_EQ(t.get(1), t.root());
  EXPECT_EQ(path_of(t, t.root()), "/");
  EXPECT_EQ(t.get(2), nullptr);
}

TEST(NodeTable, PathsMayBeLongerThanPathMax) {
  // As on tmpfs, only what one system call names is limited, not the depth.
  NodeTable t(100);
  const std::string name(250, 'd');
  Node* n = t.root();
  std::string expected;
  for (int i = 0; i < 40; ++i) {
    n = t.add_lookup(n, name, 1000 + i);
    expected += "/" + name;
  }
  EXPECT_GT(expected.size(), 4096u);
  EXPECT_EQ(path_of(t, n), expected);
}

TEST(NodeTable, EqualIndexNumbersOnDifferentDevicesAreDifferentFiles) {
  // A mirror of a tree with a mount below it: ino 2 on device 8 and ino 2
  // on device 40 are two files, while two names of one (ino, dev) are links.
  NodeTable t(2, 8);
  Node* a = t.add_lookup(t.root(), "a", 2, 40);
  EXPECT_NE(a, t.root());
  Node* b = t.add_lookup(t.root(), "b", 2, 40);
  EXPECT_EQ(a, b);
  Node* c = t.add_lookup(t.root(), "c", 7, 8);
  Node* d = t.add_lookup(t.root(), "d", 7, 40);
  EXPECT_NE(c, d);
  EXPECT_EQ(path_of(t, t.root()), "/");
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, NodeContextIsClosedWhenTheNodeGoesOutsideTheLock) {
  NodeTable t(1);
  std::vector<void*> closed;
  // The closer calls back into the table: were it still locked, this would
  // deadlock (and the watchdog would fail the test).
  t.set_context_closer([&](void* c) {
    closed.push_back(c);
    EXPECT_EQ(t.size(), 1u);
  });
  int file = 0;
  Node* a = t.add_lookup(t.root(), "a", 10);
  a->node_context = &file;
  t.remove_name(t.root(), "a");
  EXPECT_TRUE(closed.empty()) << "the kernel still knows the node";
  EXPECT_EQ(t.any_open(a), &file);
  t.forget(a->nodeid, 1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], &file);
  Node* b = t.add_lookup(t.root(), "b", 11);
  b->node_context = &file;
  EXPECT_EQ(t.take_node_contexts(), std::vector<void*>{&file});
  t.forget(b->nodeid, 1);
  EXPECT_EQ(closed.size(), 1u) << "taken contexts are the taker's to close";
}

TEST(NodeTable, UnnamedFileGetsItsNameByIndexNumber) {
  // O_TMPFILE: the kernel knows the file before it has a name.
  NodeTable t(1);
  Node* tmp = t.add_unnamed(42);
  EXPECT_EQ(path_of(t, tmp), "<none>");
  Node* named = t.add_lookup(t.root(), "named", 42);  // LINK's reply
  EXPECT_EQ(named, tmp);
  EXPECT_EQ(path_of(t, tmp), "/named");
  EXPECT_EQ(tmp->lookups.load(), 2u);
  t.forget(tmp->nodeid, 2);
  EXPECT_EQ(t.child(t.root(), "named"), nullptr);
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, LookupCountsAndForgetFrees) {
  NodeTable t(1);
  Node* a = t.add_lookup(t.root(), "a", 10);
  EXPECT_EQ(t.add_lookup(t.root(), "a", 10), a);
  EXPECT_EQ(a->lookups.load(), 2u);
  uint64_t id = a->nodeid;
  t.forget(id, 1);
  EXPECT_EQ(t.get(id), a);
  t.forget(id, 1);
  EXPECT_EQ(t.get(id), nullptr);
  EXPECT_EQ(t.child(t.root(), "a"), nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, NodeidsAreNeverReused) {
  NodeTable t(1);
  Node* a = t.add_lookup(t.root(), "a", 10);
  uint64_t first = a->nodeid;
  t.forget(first, 1);
  Node* b = t.add_lookup(t.root(), "a", 10);
  EXPECT_NE(b->nodeid, first);
}

TEST(NodeTable, KeepNamedKeepsForgottenNodesUntilTheirLastNameGoes) {
  // For file handles: the kernel may ask for a forgotten node by nodeid.
  NodeTable t(1);
  t.set_keep_named(true);
  Node* d = t.add_lookup(t.root(), "dir", 2);
  Node* f = t.add_lookup(d, "f", 3);
  uint64_t fid = f->nodeid, did = d->nodeid;
  t.forget(fid, 1);
  t.forget(did, 1);
  EXPECT_EQ(t.get(fid), f);
  EXPECT_EQ(t.add_lookup(d, "f", 3), f);  // the same nodeid again
  t.forget(fid, 1);
  EXPECT_EQ(t.add_lookup_by_id(fid, false), f);
  EXPECT_EQ(t.add_lookup_by_id(fid, true), d);
  EXPECT_EQ(t.add_lookup_by_id(NodeTable::kRootId, true), t.root());
  t.forget(fid, 1);
  t.forget(did, 1);
  t.rename(d, "f", t.root(), "g", 0);
  EXPECT_EQ(path_of(t, f), "/g");
  t.remove_name(t.root(), "g");
  EXPECT_EQ(t.get(fid), nullptr);
  EXPECT_EQ(t.add_lookup_by_id(fid, false), nullptr);
  EXPECT_EQ(t.get(did), d);  // still named
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, PathsFollowParents) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "dir", 2);
  Node* s = t.add_lookup(d, "sub", 3);
  Node* f = t.add_lookup(s, "file.txt", 4);
  EXPECT_EQ(path_of(t, f), "/dir/sub/file.txt");
  EXPECT_EQ(path_of(t, s), "/dir/sub");
}

TEST(NodeTable, HardLinksShareOneNode) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "d", 2);
  Node* a = t.add_lookup(t.root(), "a", 7);
  Node* b = t.add_lookup(d, "b", 7);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->lookups.load(), 2u);
  EXPECT_EQ(path_of(t, a), "/d/b");  // the newest name
  t.remove_name(d, "b");
  EXPECT_EQ(path_of(t, a), "/a");    // falls back to the other name
  t.remove_name(t.root(), "a");
  EXPECT_EQ(path_of(t, a), "<none>");  // unlinked, still known to the kernel
  EXPECT_EQ(t.get(a->nodeid), a);
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, ANameThatNowMeansAnotherFileIsReplaced) {
  NodeTable t(1);
  Node* a = t.add_lookup(t.root(), "x", 5);
  Node* b = t.add_lookup(t.root(), "x", 6);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.child(t.root(), "x"), b);
  EXPECT_EQ(path_of(t, a), "<none>");
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, ChildrenPinTheirParent) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "d", 2);
  Node* f = t.add_lookup(d, "f", 3);
  uint64_t did = d->nodeid;
  t.forget(did, 1);  // the kernel forgot d but f still names it as parent
  ASSERT_EQ(t.get(did), d);
  EXPECT_EQ(path_of(t, f), "/d/f");
  t.forget(f->nodeid, 1);  // now both go
  EXPECT_EQ(t.get(did), nullptr);
  EXPECT_EQ(t.size(), 1u);
}

TEST(NodeTable, OpenFilesPinUnlinkedNodes) {
  NodeTable t(1);
  Node* f = t.add_lookup(t.root(), "f", 3);
  int ctx = 0;
  t.add_open(f, &ctx);
  t.remove_name(t.root(), "f");
  t.forget(f->nodeid, 1);
  ASSERT_EQ(t.get(f->nodeid), f);
  EXPECT_EQ(t.any_open(f), &ctx);
  uint64_t id = f->nodeid;
  t.remove_open(f, &ctx);
  EXPECT_EQ(t.get(id), nullptr);
}

TEST(NodeTable, RenameMovesTheName) {
  NodeTable t(1);
  Node* a = t.add_lookup(t.root(), "a", 2);
  Node* b = t.add_lookup(t.root(), "b", 3);
  Node* f = t.add_lookup(a, "f", 4);
  t.rename(a, "f", b, "g", 0);
  EXPECT_EQ(path_of(t, f), "/b/g");
  EXPECT_EQ(t.child(a, "f"), nullptr);
  EXPECT_EQ(t.child(b, "g"), f);
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, RenameOverAnExistingNameUnlinksIt) {
  NodeTable t(1);
  Node* x = t.add_lookup(t.root(), "x", 2);
  Node* y = t.add_lookup(t.root(), "y", 3);
  t.rename(t.root(), "x", t.root(), "y", 0);
  EXPECT_EQ(t.child(t.root(), "y"), x);
  EXPECT_EQ(path_of(t, y), "<none>");
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, RenameExchangeSwaps) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "d", 2);
  Node* x = t.add_lookup(t.root(), "x", 3);
  Node* y = t.add_lookup(d, "y", 4);
  t.rename(t.root(), "x", d, "y", RENAME_EXCHANGE);
  EXPECT_EQ(path_of(t, x), "/d/y");
  EXPECT_EQ(path_of(t, y), "/x");
  EXPECT_EQ(t.check(), "");
}

TEST(NodeTable, RenameOfADirectoryMovesItsSubtreePaths) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "d", 2);
  Node* f = t.add_lookup(d, "f", 3);
  Node* e = t.add_lookup(t.root(), "e", 4);
  t.rename(t.root(), "d", e, "d2", 0);
  EXPECT_EQ(path_of(t, f), "/e/d2/f");
}

TEST(NodeTable, KnownResolvesOnlyWhatTheKernelLookedUp) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "d", 2);
  Node* f = t.add_lookup(d, "f", 3);
  auto k = t.known("/d/f");
  EXPECT_EQ(k.parent, d->nodeid);
  EXPECT_EQ(k.node, f->nodeid);
  EXPECT_EQ(k.name, "f");
  k = t.known("/d/unknown");
  EXPECT_EQ(k.parent, d->nodeid) << "the parent is known, so its cached name may need dropping";
  EXPECT_EQ(k.node, 0u);
  k = t.known("/nope/deeper");
  EXPECT_EQ(k.parent, 0u) << "nothing cached below an unknown name";
  k = t.known("/");
  EXPECT_EQ(k.node, NodeTable::kRootId);
  t.remove_name(d->nodeid, "f");
  EXPECT_EQ(t.known("/d/f").node, 0u);
}

TEST(NodeTable, ConcurrentLookupsAndForgetsStayConsistent) {
  NodeTable t(1);
  Node* d = t.add_lookup(t.root(), "d", 2);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        std::string name = "f" + std::to_string((i + k) % 50);
        Node* n = t.add_lookup(d, name, 1000 + (i + k) % 50);
        std::string p;
        t.path(n, &p);
        t.forget(n->nodeid, 1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.check(), "");
  EXPECT_EQ(t.size(), 2u);  // root and d: every lookup was forgotten
}

}  // namespace
}  // namespace linfsp
