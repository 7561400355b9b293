// The node table: nodeid <-> file node <-> names, mirroring what the kernel
// knows (its dentries and inodes), so that every request can be given a path.
//
// Nodes are keyed by the file's identity, the file system's index number
// and device (FileInfo::ino, FileInfo::dev), so all hard links of a file
// share one nodeid and the kernel keeps one page cache for them, while
// files of different devices with equal index numbers (a mirror that spans
// several file systems) stay apart. A node remembers each name the kernel
// looked up (its links); a path is built from the newest link up to the root.
//
// Lifetimes (separate counts): `lookups` are the kernel's references (entry
// replies minus FORGET); `opens` are open handles; `children` pin a parent.
// A node is freed when all three are zero. Nodeids are never reused.
//
// Locking: one reader/writer lock. Path building and the lookup of a known
// name take it shared; adding, removing and moving names take it exclusive.
// Callers hold the volume's rename resource shared (exclusive for rename), so
// names do not change while a request works with a path it built.
//
// Lock order: the rename resource, then a node's open_mutex, then the
// table's lock (Volume::Op::file builds a path holding open_mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/mutex.h"
#include "volume/fresh_attrs.h"

namespace linfsp {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Node;

struct Link {
  Node* parent;
  std::string name;
};

struct Node {
  Node(uint64_t id, uint64_t index, uint64_t device) : nodeid(id), ino(index), dev(device) {}
  const uint64_t nodeid;
  const uint64_t ino;
  const uint64_t dev;
  bool is(uint64_t index, uint64_t device) const { return index != 0 && ino == index && dev == device; }
  std::atomic<uint64_t> lookups{0};  // changed under the table lock (shared suffices)
  std::atomic<uint32_t> opens{0};    // likewise
  // Guarded by NodeTable::mutex_ (not annotated: a Node does not know its
  // table, and the analysis needs a lock it can name from here).
  std::vector<Link> links;
  std::unordered_map<std::string, Node*, StringHash, std::equal_to<>> children;
  // Open contexts of this node, for requests on an unlinked-but-open file
  // that come without a handle.
  Mutex open_mutex;
  std::vector<void*> open_contexts GUARDED_BY(open_mutex);
  // With VolumeOptions::no_open: the volume's own open of this file, for the
  // requests that come without a handle; closed when the node goes (after the
  // kernel forgot it).
  void* node_context GUARDED_BY(open_mutex) = nullptr;
  // What the file's last change reported, for the GETATTR that follows it.
  // Shared: a request that changes the node still ends its change after
  // its reply, when a FORGET may already have freed the node.
  const std::shared_ptr<FreshAttrs> fresh = std::make_shared<FreshAttrs>();
};

class NodeTable {
 public:
  static constexpr uint64_t kRootId = 1;
  explicit NodeTable(uint64_t root_ino, uint64_t root_dev = 0);
  ~NodeTable();
  NodeTable(const NodeTable&) = delete;
  NodeTable& operator=(const NodeTable&) = delete;

  // Closes a node_context when its node is freed, after the table's lock is
  // released (the file system may be waiting for it, e.g. in readdirplus).
  void set_context_closer(std::function<void(void*)> closer) { closer_ = std::move(closer); }
  // Hands over every node_context and forgets them; only once no request runs.
  std::vector<void*> take_node_contexts();

  // Keep a node that still has a name after the kernel forgot it (file
  // handles find it again by nodeid); it goes when its last name does. Call
  // before the kernel can send requests.
  void set_keep_named(bool keep) { keep_named_ = keep; }

  Node* root() { return root_; }
  // The node for a kernel nodeid, or null.
  Node* get(uint64_t nodeid) const;
  // The node the kernel knows under (parent, name), or null.
  Node* child(Node* parent, std::string_view name) const;
  // The kernel got an entry for (parent, name) -> file (ino, dev): one more lookup.
  Node* add_lookup(Node* parent, std::string_view name, uint64_t ino, uint64_t dev = 0);
  // One more lookup of the node with this nodeid (or of its parent, the root
  // for the root), for LOOKUP of "." or ".."; null if there is none.
  Node* add_lookup_by_id(uint64_t nodeid, bool parent);
  // The kernel got an entry for a file without a name (O_TMPFILE).
  Node* add_unnamed(uint64_t ino, uint64_t dev = 0);
  // The kernel forgot `count` lookups of nodeid.
  void forget(uint64_t nodeid, uint64_t count);
  // Builds "/a/b" for node; false if it has no name (unlinked).
  bool path(const Node* node, std::string* out) const;
  // (parent, name) was removed.
  void remove_name(Node* parent, std::string_view name);
  // The same, by nodeid, for callers that hold no kernel reference.
  void remove_name(uint64_t parent_id, std::string_view name);

  // What the kernel knows of an absolute path: the nodeids of the last
  // component's parent and of the component itself (0 where unknown).
  struct Known {
    uint64_t parent = 0;
    uint64_t node = 0;
    std::string name;  // the last component
  };
  Known known(const std::string& path) const;
  // A rename succeeded; flags as for renameat2.
  void rename(Node* from_parent, std::string_view from, Node* to_parent, std::string_view to,
              unsigned flags);
  // Drops what the node's FreshAttrs keeps, if the node exists.
  void drop_fresh_attrs(uint64_t nodeid);
  // The FreshAttrs of node `nodeid`, or of the child `name` of node
  // `parent`; null if there is none.
  std::shared_ptr<FreshAttrs> fresh_attrs(uint64_t nodeid) const;
  std::shared_ptr<FreshAttrs> fresh_attrs(uint64_t parent, std::string_view name) const;
  void add_open(Node* node, void* context);
  void remove_open(Node* node, void* context);
  // Some open context of node (its node_context last), or null.
  void* any_open(Node* node) const;

  size_t size() const;
  // (ino, path) of every node that has a name.
  std::vector<std::pair<uint64_t, std::string>> paths() const;
  // Checks the invariants (every link is mirrored in its parent's children
  // and vice versa, counts are sane); returns a description of the first
  // violation, or empty.
  std::string check() const;

 private:
  Node* find_or_create(uint64_t ino, uint64_t dev) REQUIRES(mutex_);
  void unlink_locked(Node* parent, std::string_view name) REQUIRES(mutex_);
  bool path_locked(const Node* node, std::string* out) const REQUIRES_SHARED(mutex_);
  void maybe_free(Node* node) REQUIRES(mutex_);

  mutable SharedMutex mutex_;
  std::unordered_map<uint64_t, Node*> by_id_ GUARDED_BY(mutex_);
  struct FileKey {
    uint64_t ino, dev;
    bool operator==(const FileKey&) const = default;
  };
  struct FileKeyHash {
    size_t operator()(const FileKey& k) const { return std::hash<uint64_t>{}(k.ino ^ (k.dev * 0x9e3779b97f4a7c15ULL)); }
  };
  std::unordered_map<FileKey, Node*, FileKeyHash> by_file_ GUARDED_BY(mutex_);  // files with ino != 0
  uint64_t next_id_ GUARDED_BY(mutex_) = kRootId + 1;
  Node* root_;
  std::function<void(void*)> closer_;
  bool keep_named_ = false;  // written once, before requests
  std::vector<void*> dropped_ GUARDED_BY(mutex_);  // node contexts of freed nodes
  class WriteLock;
};

}  // namespace linfsp
