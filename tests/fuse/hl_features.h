/* What hl_features_fs and hl_features_check agree on. */
#pragma once
#include <sys/ioctl.h>

#define HL_DIR_ENTRIES 200
#define HL_GET _IOR('H', 1, int)
#define HL_SET _IOW('H', 2, int)
#define HL_STORED _IOR('H', 3, int)
#define HL_READY _IO('H', 4)
#define HL_INVALIDATE _IO('H', 5) /* fuse_invalidate_path("/whoami"); returns its result + 100 */
