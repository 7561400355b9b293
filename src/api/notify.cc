// The parts of the notify API that live on the file system's side.
#include "linfsp/notify.h"

namespace linfsp {

NotifyBatch& NotifyBatch::add(NotifyAction action, std::string_view name) {
  NotifyRecord rec{static_cast<uint32_t>(sizeof(NotifyRecord) + name.size()), static_cast<uint32_t>(action), 0, 0};
  bytes_.append(reinterpret_cast<const char*>(&rec), sizeof(rec));
  bytes_.append(name);
  bytes_.resize((bytes_.size() + 7) & ~size_t{7}, '\0');
  return *this;
}

Status Notifier::notify_change(NotifyAction action, std::string_view path, std::chrono::milliseconds timeout) {
  NotifyBatch batch;
  batch.add(action, path);
  if (Status s = notify_begin(timeout); !s) return s;
  Status s = notify(batch.data(), batch.size());
  Status e = notify_end();
  return s ? e : s;
}

}  // namespace linfsp
