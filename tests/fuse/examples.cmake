# libfuse's own examples on LinFsp: examples/run.sh builds each example from
# Debian's libfuse3-dev twice at test time (against Debian's libfuse3 and
# against LinFsp's libfuse3.so.3), mounts both builds and drives them the same
# way; one CTest test per group. symbols.sh compares the exported symbol
# versions with Debian's libfuse3.so.3.
#
# LINFSP_FUSE_REFERENCE_ONLY=1 in the environment runs both sides on Debian's
# libfuse (to prove the harness itself).
set(linfsp_fuse_examples_dir /usr/share/doc/libfuse3-dev/examples)
if(EXISTS ${linfsp_fuse_examples_dir}/hello.c)
  foreach(group passthrough hello notify poll ioctl printcap preload)
    add_test(NAME fuse_examples_${group}
      COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/examples/run.sh
              ${PROJECT_BINARY_DIR} ${group} $<TARGET_FILE:fsp-compat>)
    # run.sh exits 77 without root.
    set_tests_properties(fuse_examples_${group} PROPERTIES
      TIMEOUT 600 SKIP_RETURN_CODE 77 LABELS fuse_examples)
  endforeach()
else()
  message(STATUS "libfuse3-dev examples not found in ${linfsp_fuse_examples_dir}: "
                 "fuse_examples_* tests not registered (scripts/install-deps.sh installs them)")
endif()

if(TARGET fuse3)
  add_test(NAME fuse_symbols
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/symbols.sh
            /lib/${CMAKE_LIBRARY_ARCHITECTURE}/libfuse3.so.3 $<TARGET_FILE:fuse3> ${PROJECT_SOURCE_DIR}/docs/fuse.md)
  set_tests_properties(fuse_symbols PROPERTIES TIMEOUT 60)
endif()
