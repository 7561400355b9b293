#include "volume/node_table.h"

#include <linux/fs.h>

#include <algorithm>
#include <utility>

namespace linfsp {

// The table's exclusive lock for changes that may free nodes: the node
// contexts they drop are closed once it is released.
class SCOPED_CAPABILITY NodeTable::WriteLock {
 public:
  explicit WriteLock(NodeTable& table) ACQUIRE(table.mutex_) : table_(table) { table_.mutex_.lock(); }
  // Not analysed: a lock's own release, which still works under the lock.
  ~WriteLock() RELEASE() NO_THREAD_SAFETY_ANALYSIS {
    std::vector<void*> dropped;
    dropped.swap(table_.dropped_);
    table_.mutex_.unlock();
    for (void* context : dropped) {
      if (table_.closer_) table_.closer_(context);
    }
  }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;

 private:
  NodeTable& table_;
};

// The node_context of a node that nothing can reach any more (maybe_free)
// or of a table that no request uses (take_node_contexts). Not analysed:
// open_mutex is not needed there, and taking it under the table's lock
// would invert the order open_mutex -> table lock of Volume::Op::file.
static void*& unreachable_node_context(Node* node) NO_THREAD_SAFETY_ANALYSIS { return node->node_context; }

NodeTable::NodeTable(uint64_t root_ino, uint64_t root_dev) {
  root_ = new Node(kRootId, root_ino, root_dev);
  root_->lookups = 1;  // the kernel never forgets the root
  by_id_[kRootId] = root_;
  if (root_ino != 0) by_file_[{root_ino, root_dev}] = root_;
}

NodeTable::~NodeTable() {
  for (auto& [id, node] : by_id_) delete node;
}

Node* NodeTable::get(uint64_t nodeid) const {
  ReaderLock lock(mutex_);
  auto it = by_id_.find(nodeid);
  return it == by_id_.end() ? nullptr : it->second;
}

void NodeTable::drop_fresh_attrs(uint64_t nodeid) {
  if (std::shared_ptr<FreshAttrs> fresh = fresh_attrs(nodeid)) fresh->drop();
}

std::shared_ptr<FreshAttrs> NodeTable::fresh_attrs(uint64_t nodeid) const {
  ReaderLock lock(mutex_);
  auto it = by_id_.find(nodeid);
  return it == by_id_.end() ? nullptr : it->second->fresh;
}

std::shared_ptr<FreshAttrs> NodeTable::fresh_attrs(uint64_t parent, std::string_view name) const {
  ReaderLock lock(mutex_);
  auto it = by_id_.find(parent);
  if (it == by_id_.end()) return nullptr;
  auto child = it->second->children.find(name);
  return child == it->second->children.end() ? nullptr : child->second->fresh;
}

Node* NodeTable::child(Node* parent, std::string_view name) const {
  ReaderLock lock(mutex_);
  auto it = parent->children.find(name);
  return it == parent->children.end() ? nullptr : it->second;
}

Node* NodeTable::add_lookup(Node* parent, std::string_view name, uint64_t ino, uint64_t dev) {
  {
    // The common case: the kernel asks again for a name it knew.
    ReaderLock lock(mutex_);
    auto it = parent->children.find(name);
    if (it != parent->children.end() && it->second->is(ino, dev)) {
      it->second->lookups.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  WriterLock lock(mutex_);
  auto it = parent->children.find(name);
  if (it != parent->children.end()) {
    if (it->second->is(ino, dev)) {
      it->second->lookups.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
    // The name now means another file (changed behind the kernel's back).
    unlink_locked(parent, name);
  }
  Node* node = find_or_create(ino, dev);
  node->links.push_back({parent, std::string(name)});
  parent->children.emplace(std::string(name), node);
  node->lookups.fetch_add(1, std::memory_order_relaxed);
  return node;
}

Node* NodeTable::add_unnamed(uint64_t ino, uint64_t dev) {
  WriterLock lock(mutex_);
  Node* node = find_or_create(ino, dev);
  node->lookups.fetch_add(1, std::memory_order_relaxed);
  return node;
}

Node* NodeTable::find_or_create(uint64_t ino, uint64_t dev) {
  if (ino != 0) {
    auto it = by_file_.find({ino, dev});
    if (it != by_file_.end()) return it->second;
  }
  Node* node = new Node(next_id_++, ino, dev);
  by_id_[node->nodeid] = node;
  if (ino != 0) by_file_[{ino, dev}] = node;
  return node;
}

void NodeTable::forget(uint64_t nodeid, uint64_t count) {
  WriteLock lock(*this);
  auto it = by_id_.find(nodeid);
  if (it == by_id_.end() || it->second == root_) return;
  Node* node = it->second;
  uint64_t have = node->lookups.load(std::memory_order_relaxed);
  node->lookups.store(have > count ? have - count : 0, std::memory_order_relaxed);
  maybe_free(node);
}

Node* NodeTable::add_lookup_by_id(uint64_t nodeid, bool parent) {
  WriteLock lock(*this);
  auto it = by_id_.find(nodeid);
  if (it == by_id_.end()) return nullptr;
  Node* node = it->second;
  if (parent && node != root_) {
    if (node->links.empty()) return nullptr;
    node = node->links.back().parent;
  }
  node->lookups.fetch_add(1, std::memory_order_relaxed);
  return node;
}

void NodeTable::maybe_free(Node* node) {
  // A named node stays for file handles when asked to; its parents stay
  // with it, pinned by their children.
  while (node != root_ && node->lookups.load(std::memory_order_relaxed) == 0 &&
         node->opens.load(std::memory_order_relaxed) == 0 && node->children.empty() &&
         !(keep_named_ && !node->links.empty())) {
    std::vector<Link> links = std::move(node->links);
    by_id_.erase(node->nodeid);
    if (void* context = unreachable_node_context(node)) dropped_.push_back(context);
    auto file_it = by_file_.find({node->ino, node->dev});
    if (file_it != by_file_.end() && file_it->second == node) by_file_.erase(file_it);
    delete node;
    // Our links pinned their parents; the last one may now go too.
    for (size_t i = 0; i + 1 < links.size(); ++i) {
      links[i].parent->children.erase(links[i].name);
      maybe_free(links[i].parent);
    }
    if (links.empty()) return;
    node = links.back().parent;
    node->children.erase(links.back().name);
  }
}

void NodeTable::unlink_locked(Node* parent, std::string_view name) {
  auto it = parent->children.find(name);
  if (it == parent->children.end()) return;
  Node* node = it->second;
  parent->children.erase(it);
  auto& links = node->links;
  links.erase(std::remove_if(links.begin(), links.end(),
                             [&](const Link& l) { return l.parent == parent && l.name == name; }),
              links.end());
  maybe_free(node);
}

bool NodeTable::path(const Node* node, std::string* out) const {
  if (node == root_) {
    *out = "/";
    return true;
  }
  ReaderLock lock(mutex_);
  return path_locked(node, out);
}

bool NodeTable::path_locked(const Node* node, std::string* out) const {
  // Two walks up, one to measure and one to fill from the end, so a deep
  // path costs no allocation beyond the string. Paths inside the volume may
  // be longer than PATH_MAX, as on tmpfs: the kernel limits only what one
  // system call names.
  size_t length = 0;
  for (const Node* n = node; n != root_; n = n->links.back().parent) {
    if (n->links.empty()) return false;
    length += n->links.back().name.size() + 1;
  }
  out->resize(length);
  for (const Node* n = node; n != root_; n = n->links.back().parent) {
    const std::string& name = n->links.back().name;
    length -= name.size();
    out->replace(length, name.size(), name);
    (*out)[--length] = '/';
  }
  return true;
}

void NodeTable::remove_name(Node* parent, std::string_view name) {
  WriteLock lock(*this);
  unlink_locked(parent, name);
}

void NodeTable::remove_name(uint64_t parent_id, std::string_view name) {
  WriteLock lock(*this);
  auto it = by_id_.find(parent_id);
  if (it != by_id_.end()) unlink_locked(it->second, name);
}

NodeTable::Known NodeTable::known(const std::string& path) const {
  ReaderLock lock(mutex_);
  Known k;
  const Node* node = root_;
  k.node = root_->nodeid;
  for (size_t pos = 1; pos < path.size();) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    if (node == nullptr) return {};  // below a name the kernel never looked up
    k.parent = node->nodeid;
    k.name = path.substr(pos, end - pos);
    auto it = node->children.find(k.name);
    node = it == node->children.end() ? nullptr : it->second;
    pos = end + 1;
  }
  k.node = node ? node->nodeid : 0;
  return k;
}

void NodeTable::rename(Node* from_parent, std::string_view from, Node* to_parent,
                       std::string_view to, unsigned flags) {
  WriteLock lock(*this);
  auto src_it = from_parent->children.find(from);
  Node* src = src_it == from_parent->children.end() ? nullptr : src_it->second;
  auto dst_it = to_parent->children.find(to);
  Node* dst = dst_it == to_parent->children.end() ? nullptr : dst_it->second;
  if (src == dst && src != nullptr) return;  // two names of one file: nothing moves

  auto move_link = [&](Node* node, Node* old_parent, std::string_view old_name, Node* new_parent,
                       std::string_view new_name) {
    for (Link& l : node->links) {
      if (l.parent == old_parent && l.name == old_name) {
        l.parent = new_parent;
        l.name = std::string(new_name);
        // The newest link names the node in paths.
        std::swap(l, node->links.back());
        break;
      }
    }
  };
  if (flags & RENAME_EXCHANGE) {
    if (src) from_parent->children.erase(std::string(from));
    if (dst) to_parent->children.erase(std::string(to));
    if (src) {
      move_link(src, from_parent, from, to_parent, to);
      to_parent->children.emplace(std::string(to), src);
    }
    if (dst) {
      move_link(dst, to_parent, to, from_parent, from);
      from_parent->children.emplace(std::string(from), dst);
    }
    // A side that moved away may have left its old parent unpinned.
    maybe_free(from_parent);
    maybe_free(to_parent);
    return;
  }
  if (dst) unlink_locked(to_parent, to);  // replaced
  if (src) {
    from_parent->children.erase(std::string(from));
    move_link(src, from_parent, from, to_parent, to);
    to_parent->children.emplace(std::string(to), src);
    maybe_free(from_parent);
  }
}

void NodeTable::add_open(Node* node, void* context) {
  node->opens.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(node->open_mutex);
  node->open_contexts.push_back(context);
}

void NodeTable::remove_open(Node* node, void* context) {
  {
    MutexLock lock(node->open_mutex);
    auto& v = node->open_contexts;
    auto it = std::find(v.begin(), v.end(), context);
    if (it != v.end()) v.erase(it);
  }
  WriteLock lock(*this);
  node->opens.fetch_sub(1, std::memory_order_relaxed);
  maybe_free(node);
}

void* NodeTable::any_open(Node* node) const {
  MutexLock lock(node->open_mutex);
  return node->open_contexts.empty() ? node->node_context : node->open_contexts.back();
}

std::vector<void*> NodeTable::take_node_contexts() {
  WriterLock lock(mutex_);
  std::vector<void*> contexts;
  for (auto& [id, node] : by_id_) {
    if (void*& context = unreachable_node_context(node)) contexts.push_back(std::exchange(context, nullptr));
  }
  return contexts;
}

size_t NodeTable::size() const {
  ReaderLock lock(mutex_);
  return by_id_.size();
}

std::vector<std::pair<uint64_t, std::string>> NodeTable::paths() const {
  ReaderLock lock(mutex_);
  std::vector<std::pair<uint64_t, std::string>> out;
  for (const auto& [id, node] : by_id_) {
    std::string p = "/";
    if (node == root_ || path_locked(node, &p)) out.emplace_back(node->ino, std::move(p));
  }
  return out;
}

std::string NodeTable::check() const {
  ReaderLock lock(mutex_);
  for (const auto& [id, node] : by_id_) {
    if (node->nodeid != id) return "nodeid mismatch at " + std::to_string(id);
    for (const Link& l : node->links) {
      auto it = l.parent->children.find(l.name);
      if (it == l.parent->children.end() || it->second != node) {
        return "link " + l.name + " of node " + std::to_string(id) + " missing in its parent";
      }
      if (!by_id_.count(l.parent->nodeid)) return "parent of node " + std::to_string(id) + " freed";
    }
    for (const auto& [name, child] : node->children) {
      bool found = std::any_of(child->links.begin(), child->links.end(),
                               [parent = node, &name = name](const Link& l) {
                                 return l.parent == parent && l.name == name;
                               });
      if (!found) return "child " + name + " of node " + std::to_string(id) + " has no link back";
    }
  }
  return {};
}

}  // namespace linfsp
