# The high-level API (fuse.h): libfuse's own examples and hl_features_fs.c,
# built unchanged against this build's libfuse3 through `pkg-config fuse3`
# (hl_examples.sh compiles them when the test runs) and driven through real
# mounts; fsp-compat on the passthrough examples, held to the failures
# hl_compat_expected.txt explains. Exit 77 (no libfuse3-dev examples, no
# /dev/fuse): skipped.
set(linfsp_hl_script ${CMAKE_CURRENT_SOURCE_DIR}/hl_examples.sh)
set(linfsp_hl_pc ${PROJECT_BINARY_DIR}/lib/linfsp/pkgconfig)

add_test(NAME fuse_hl_examples COMMAND ${linfsp_hl_script} ${linfsp_hl_pc} basic)
add_test(NAME fuse_hl_features COMMAND ${linfsp_hl_script} ${linfsp_hl_pc} features)
set_tests_properties(fuse_hl_examples fuse_hl_features PROPERTIES
  TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT HL_WATCHDOG=240)
if(TARGET fsp-compat)
  foreach(example passthrough passthrough_fh)
    add_test(NAME fuse_hl_compat_${example}
      COMMAND ${linfsp_hl_script} ${linfsp_hl_pc} compat ${example} $<TARGET_FILE:fsp-compat>
              ${CMAKE_CURRENT_SOURCE_DIR}/hl_compat_expected.txt)
    set_tests_properties(fuse_hl_compat_${example} PROPERTIES
      TIMEOUT 900 SKIP_RETURN_CODE 77 ENVIRONMENT HL_WATCHDOG=840)
  endforeach()
endif()
