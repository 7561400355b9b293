// CUSE (character devices in user space): declared so that CUSE programs
// build and link against LinFsp's libfuse3, but not served. LinFsp speaks
// the FUSE protocol for mounts only; a CUSE device is created through
// /dev/cuse with its own INIT (CUSE_INIT), which LinFsp's channel does not
// implement. Each entry point says so and fails as libfuse fails when
// /dev/cuse cannot be opened.
#include "cuse_lowlevel.h"

namespace {

void not_supported() {
  fuse_log(FUSE_LOG_ERR, "cuse: character devices in user space (CUSE) are not supported by LinFsp's libfuse\n");
}

}  // namespace

extern "C" {

struct fuse_session* cuse_lowlevel_new(struct fuse_args*, const struct cuse_info*, const struct cuse_lowlevel_ops*,
                                       void*) {
  not_supported();
  return nullptr;
}

struct fuse_session* cuse_lowlevel_setup(int, char*[], const struct cuse_info*, const struct cuse_lowlevel_ops*,
                                         int*, void*) {
  not_supported();
  return nullptr;
}

void cuse_lowlevel_teardown(struct fuse_session* se) {
  if (se) fuse_session_destroy(se);
}

int cuse_lowlevel_main(int, char*[], const struct cuse_info*, const struct cuse_lowlevel_ops*, void*) {
  not_supported();
  return 1;
}

}  // extern "C"
