# The low-level API (fuse_lowlevel.h) on LinFsp:
#   ll_layout     the public structures' sizes, offsets and bitfield bits,
#                 and the constants, the same under Debian's libfuse headers
#                 and under ours (one program built against each);
#   ll_mount_test real mounts: Debian's hello_ll and passthrough_ll built
#                 unchanged against our libfuse3 (and hello_ll built against
#                 Debian's libfuse, run on ours), and ll_testfs.c (a reply
#                 from another thread, a notification inside a handler, an
#                 interrupt reaching fuse_req_interrupt_func) at API 3.14 and 3.1.
if(NOT TARGET fuse3)
  return()
endif()
enable_language(C)

set(linfsp_ll_examples /usr/share/doc/libfuse3-dev/examples)
set(linfsp_ll_debian_headers /usr/include/fuse3)

# ll_program(NAME SOURCE [API n]): a libfuse C program built against our libfuse3.
function(ll_program name source)
  cmake_parse_arguments(P "" "API" "" ${ARGN})
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE fuse3 Threads::Threads)
  target_compile_definitions(${name} PRIVATE _FILE_OFFSET_BITS=64)
  if(P_API)
    target_compile_definitions(${name} PRIVATE FUSE_USE_VERSION=${P_API})
  endif()
  # libfuse's examples are not written for -Wextra -Werror.
  target_compile_options(${name} PRIVATE -Wno-error -Wno-unused-parameter -Wno-sign-compare)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
endfunction()

ll_program(ll_testfs ${CMAKE_CURRENT_SOURCE_DIR}/ll_testfs.c)
ll_program(ll_testfs31 ${CMAKE_CURRENT_SOURCE_DIR}/ll_testfs.c API 31)
set(ll_test_defs
  LL_TESTFS="$<TARGET_FILE:ll_testfs>" LL_TESTFS31="$<TARGET_FILE:ll_testfs31>"
  LL_OUR_LIBDIR="$<TARGET_FILE_DIR:fuse3>")
if(EXISTS ${linfsp_ll_examples}/hello_ll.c AND EXISTS ${linfsp_ll_examples}/passthrough_ll.c)
  ll_program(ll_hello_ll ${linfsp_ll_examples}/hello_ll.c)
  ll_program(ll_passthrough_ll ${linfsp_ll_examples}/passthrough_ll.c)
  target_include_directories(ll_passthrough_ll PRIVATE ${linfsp_ll_examples})
  list(APPEND ll_test_defs LL_HELLO_LL="$<TARGET_FILE:ll_hello_ll>"
                           LL_PASSTHROUGH_LL="$<TARGET_FILE:ll_passthrough_ll>")
  # The same hello_ll linked against Debian's libfuse3: run on ours through
  # LD_LIBRARY_PATH, it proves binary compatibility (symbol versions, layouts).
  find_library(linfsp_ll_debian_libfuse NAMES libfuse3.so.3 fuse3
               PATHS /lib/${CMAKE_LIBRARY_ARCHITECTURE} /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH)
  # (Not under the sanitizers: an uninstrumented program cannot load an
  # instrumented library.)
  if(linfsp_ll_debian_libfuse AND EXISTS ${linfsp_ll_debian_headers}/fuse_lowlevel.h AND NOT LINFSP_SANITIZE)
    add_executable(ll_hello_ll_debian ${linfsp_ll_examples}/hello_ll.c)
    target_include_directories(ll_hello_ll_debian PRIVATE ${linfsp_ll_debian_headers})
    target_compile_definitions(ll_hello_ll_debian PRIVATE _FILE_OFFSET_BITS=64)
    target_compile_options(ll_hello_ll_debian PRIVATE -Wno-error -Wno-unused-parameter -Wno-sign-compare)
    target_link_libraries(ll_hello_ll_debian PRIVATE ${linfsp_ll_debian_libfuse})
    set_target_properties(ll_hello_ll_debian PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    list(APPEND ll_test_defs LL_HELLO_LL_DEBIAN="$<TARGET_FILE:ll_hello_ll_debian>")
    # ll_testfs as a program built against libfuse 3.0 .. 3.11 is linked:
    # fuse_parse_cmdline@FUSE_3.0, fuse_session_loop_mt@FUSE_3.0.
    add_executable(ll_testfs_oldabi ${CMAKE_CURRENT_SOURCE_DIR}/ll_testfs.c)
    target_include_directories(ll_testfs_oldabi PRIVATE ${linfsp_ll_debian_headers})
    target_compile_definitions(ll_testfs_oldabi PRIVATE _FILE_OFFSET_BITS=64 FUSE_USE_VERSION=31 LL_OLD_ABI)
    target_link_libraries(ll_testfs_oldabi PRIVATE ${linfsp_ll_debian_libfuse} Threads::Threads)
    set_target_properties(ll_testfs_oldabi PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    list(APPEND ll_test_defs LL_TESTFS_OLDABI="$<TARGET_FILE:ll_testfs_oldabi>")
  endif()
endif()

# ll_api: what needs no mount (buffers, command line, options, entries).
ll_program(ll_api ${CMAKE_CURRENT_SOURCE_DIR}/ll_api.c)
target_compile_options(ll_api PRIVATE -Wno-discarded-qualifiers)
add_test(NAME ll_api COMMAND ll_api)
set_tests_properties(ll_api PROPERTIES TIMEOUT 30)

linfsp_test(ll_mount_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/ll_mount_test.cc TIMEOUT 300)
target_compile_definitions(ll_mount_test PRIVATE ${ll_test_defs})
add_dependencies(ll_mount_test ll_testfs ll_testfs31)
foreach(t ll_hello_ll ll_passthrough_ll ll_hello_ll_debian ll_testfs_oldabi)
  if(TARGET ${t})
    add_dependencies(ll_mount_test ${t})
  endif()
endforeach()

# Layout: the same program against Debian's headers and against ours.
if(EXISTS ${linfsp_ll_debian_headers}/fuse_lowlevel.h)
  add_executable(ll_layout_ours ${CMAKE_CURRENT_SOURCE_DIR}/ll_layout.c)
  target_include_directories(ll_layout_ours PRIVATE ${PROJECT_SOURCE_DIR}/include/fuse3)
  add_executable(ll_layout_debian ${CMAKE_CURRENT_SOURCE_DIR}/ll_layout.c)
  target_include_directories(ll_layout_debian PRIVATE ${linfsp_ll_debian_headers})
  foreach(t ll_layout_ours ll_layout_debian)
    target_compile_definitions(${t} PRIVATE _FILE_OFFSET_BITS=64)
    set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endforeach()
  add_test(NAME ll_layout
    COMMAND sh -c "\"$1\" > \"$3.ours\" && \"$2\" > \"$3.debian\" && diff -u \"$3.debian\" \"$3.ours\""
            ll_layout $<TARGET_FILE:ll_layout_ours> $<TARGET_FILE:ll_layout_debian>
            ${CMAKE_CURRENT_BINARY_DIR}/ll_layout)
  set_tests_properties(ll_layout PROPERTIES TIMEOUT 30)
else()
  message(STATUS "Debian's libfuse3 headers not found: ll_layout not registered")
endif()
