// fuse_version() and fuse_pkgversion(): the libfuse API level LinFsp serves.
#include "fuse_lowlevel.h"

extern "C" {

int fuse_version(void) { return FUSE_VERSION; }

const char* fuse_pkgversion(void) { return "3.14.0 (LinFsp " LINFSP_VERSION ")"; }

}
