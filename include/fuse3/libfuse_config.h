/* LinFsp's libfuse3: build facts that the public headers depend on. Our
 * libfuse3.so.3 carries libfuse's symbol versions (FUSE_3.0 ... FUSE_3.12),
 * so the headers pick the versioned names of fuse_new, fuse_parse_cmdline
 * and the loop functions exactly as a libfuse built with them would. */
#pragma once

#define LIBFUSE_BUILT_WITH_VERSIONED_SYMBOLS 1
