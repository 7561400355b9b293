// libfuse's option parser (fuse_opt.h), argument for argument as libfuse
// 3.14 parses: the same matches, the same output vector, the same messages.
// tests/fuse/opt_driver.c runs it side by side with the system's libfuse.
//
// Memory is malloc'ed, never new'ed: callers free what these functions hand
// out (argv strings, %s values, option lists) with free(), and a failed
// allocation is reported as -1 after "memory allocation failed", as libfuse
// does, rather than thrown across the C interface.
#include "fuse_opt.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuse_log.h"

namespace {

// The offset that FUSE_OPT_KEY puts in an entry: -1U, widened to unsigned
// long (so 0xffffffff on LP64, not ULONG_MAX).
constexpr unsigned long kKeyEntryOffset = static_cast<unsigned long>(static_cast<unsigned>(-1));

int AllocationFailed() {
  fuse_log(FUSE_LOG_ERR, "fuse: memory allocation failed\n");
  return -1;
}

// Appends opt to the comma-separated list *list; with escape, each ',' and
// '\' of opt gets a '\' in front so that the list splits back into opt.
// An empty but allocated list takes opt without a leading comma.
int AppendOption(char** list, const char* opt, bool escape) {
  size_t old_length = *list != nullptr ? std::strlen(*list) : 0;
  // Room for the comma, every character doubled, and the terminator.
  auto* grown = static_cast<char*>(std::realloc(*list, old_length + 1 + 2 * std::strlen(opt) + 1));
  if (grown == nullptr) return AllocationFailed();
  *list = grown;
  char* out = grown + old_length;
  if (old_length != 0) *out++ = ',';
  for (const char* in = opt; *in != '\0'; ++in) {
    if (escape && (*in == ',' || *in == '\\')) *out++ = '\\';
    *out++ = *in;
  }
  *out = '\0';
  return 0;
}

// Does templ accept arg? If it does, *value_at is where the value starts in
// arg: the index of the template's '=' or ' ' when that character ends the
// template or introduces a '%' format, and the template's prefix up to it
// (with the '=', without the ' ') begins arg; 0 when templ equals arg (or
// when the separator is the template's first character).
bool TemplateMatches(const char* templ, const char* arg, unsigned* value_at) {
  const char* sep = std::strchr(templ, '=');
  if (sep == nullptr) sep = std::strchr(templ, ' ');
  if (sep != nullptr && (sep[1] == '\0' || sep[1] == '%')) {
    size_t prefix = static_cast<size_t>(sep - templ) + (*sep == '=' ? 1 : 0);
    if (std::strncmp(arg, templ, prefix) == 0) {
      *value_at = static_cast<unsigned>(sep - templ);
      return true;
    }
  }
  if (std::strcmp(templ, arg) == 0) {
    *value_at = 0;
    return true;
  }
  return false;
}

// The first entry from `from` on (up to FUSE_OPT_END) that accepts arg.
const fuse_opt* FirstMatch(const fuse_opt* from, const char* arg, unsigned* value_at) {
  for (const fuse_opt* entry = from; entry != nullptr && entry->templ != nullptr; ++entry) {
    if (TemplateMatches(entry->templ, arg, value_at)) return entry;
  }
  return nullptr;
}

// Stores value into *field by format ("%s": a malloc'ed copy that replaces
// the old one, which is freed; otherwise sscanf of exactly one conversion).
int StoreValue(void* field, const char* format, const char* value, const char* arg) {
  assert(format[0] == '%');
  if (format[1] == 's') {
    char* copy = strdup(value);
    if (copy == nullptr) return AllocationFailed();
    auto* slot = static_cast<char**>(field);
    std::free(*slot);
    *slot = copy;
    return 0;
  }
  if (std::sscanf(value, format, field) != 1) {
    fuse_log(FUSE_LOG_ERR, "fuse: invalid parameter in option `%s'\n", arg);
    return -1;
  }
  return 0;
}

// The state of one fuse_opt_parse call.
class Parser {
 public:
  Parser(const fuse_args& in, void* data, const fuse_opt* table, fuse_opt_proc_t proc)
      : in_argc_(in.argc), in_argv_(in.argv), data_(data), table_(table), proc_(proc) {}
  ~Parser() {
    std::free(options_);
    fuse_opt_free_args(&out_);
  }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Builds the output vector; -1 after logging why not.
  int Run() {
    if (in_argc_ != 0 && fuse_opt_add_arg(&out_, in_argv_[0]) == -1) return -1;
    for (next_ = 1; next_ < in_argc_; ++next_) {
      if (ProcessArgument(in_argv_[next_]) == -1) return -1;
    }
    // The kept -o options go right after the program name, as one list.
    if (options_ != nullptr) {
      if (fuse_opt_insert_arg(&out_, 1, "-o") == -1) return -1;
      if (fuse_opt_insert_arg(&out_, 2, options_) == -1) return -1;
    }
    // A "--" that nothing follows any more is dropped. (Inserting the -o
    // list moved it, and then it stays, as in libfuse.)
    if (options_end_ != 0 && options_end_ == out_.argc &&
        std::strcmp(out_.argv[out_.argc - 1], "--") == 0) {
      std::free(out_.argv[out_.argc - 1]);
      out_.argv[--out_.argc] = nullptr;
    }
    return 0;
  }

  // Hands the output vector to the caller in exchange for `args`, which
  // the destructor then frees (if it was allocated).
  void SwapOutput(fuse_args* args) {
    fuse_args kept = out_;
    out_ = *args;
    *args = kept;
  }

 private:
  int ProcessArgument(const char* arg) {
    if (options_end_ != 0 || arg[0] != '-') return Dispatch(arg, FUSE_OPT_KEY_NONOPT, false);
    if (arg[1] == 'o') {
      if (arg[2] != '\0') return ProcessOptionList(arg + 2);  // -oa,b
      if (TakeNextArgument(arg) == -1) return -1;             // -o a,b
      return ProcessOptionList(in_argv_[next_]);
    }
    if (arg[1] == '-' && arg[2] == '\0') {
      // "--" is kept, and everything after it is a non-option.
      if (fuse_opt_add_arg(&out_, arg) == -1) return -1;
      options_end_ = out_.argc;
      return 0;
    }
    return ProcessOption(arg, false);
  }

  // Splits a -o list at unescaped commas and processes each option; a '\'
  // takes the next character literally, or three octal digits (first 0-3)
  // as one byte. Works on a copy, unescaping in place.
  int ProcessOptionList(const char* list) {
    char* copy = strdup(list);
    if (copy == nullptr) return AllocationFailed();
    int result = 0;
    char* option = copy;
    char* write = copy;
    for (const char* read = copy;; ++read) {
      if (*read == ',' || *read == '\0') {
        bool last = *read == '\0';
        *write = '\0';
        if (ProcessOption(option, true) == -1) {
          result = -1;
          break;
        }
        if (last) break;
        write = option;
      } else if (read[0] == '\\' && read[1] != '\0') {
        ++read;
        if (read[0] >= '0' && read[0] <= '3' && read[1] >= '0' && read[1] <= '7' &&
            read[2] >= '0' && read[2] <= '7') {
          *write++ = static_cast<char>((read[0] - '0') * 64 + (read[1] - '0') * 8 + (read[2] - '0'));
          read += 2;
        } else {
          *write++ = *read;
        }
      } else {
        *write++ = *read;
      }
    }
    std::free(copy);
    return result;
  }

  // An option (from_list: it came from a -o list). Every entry that
  // accepts it is applied in table order; none does: it goes to the
  // processing function as FUSE_OPT_KEY_OPT.
  int ProcessOption(const char* arg, bool from_list) {
    unsigned value_at = 0;
    const fuse_opt* entry = FirstMatch(table_, arg, &value_at);
    if (entry == nullptr) return Dispatch(arg, FUSE_OPT_KEY_OPT, from_list);
    for (; entry != nullptr; entry = FirstMatch(entry + 1, arg, &value_at)) {
      // "name %fmt" or "-x " given as the bare name: the value is the next
      // argument, glued on without the space.
      bool value_follows = value_at != 0 && entry->templ[value_at] == ' ' && arg[value_at] == '\0';
      int result = value_follows ? ApplyWithNextArgument(entry, value_at, arg, from_list)
                                 : Apply(entry, value_at, arg, from_list);
      if (result == -1) return -1;
    }
    return 0;
  }

  int ApplyWithNextArgument(const fuse_opt* entry, unsigned value_at, const char* arg,
                            bool from_list) {
    if (TakeNextArgument(arg) == -1) return -1;
    const char* value = in_argv_[next_];
    auto* joined = static_cast<char*>(std::malloc(value_at + std::strlen(value) + 1));
    if (joined == nullptr) return AllocationFailed();
    std::memcpy(joined, arg, value_at);
    std::strcpy(joined + value_at, value);
    int result = Apply(entry, value_at, joined, from_list);
    std::free(joined);
    return result;
  }

  // Applies one matching entry: a key entry goes to the processing
  // function; otherwise the value is scanned into the data block, or, for a
  // template without a format, the entry's value is stored as an int.
  int Apply(const fuse_opt* entry, unsigned value_at, const char* arg, bool from_list) {
    if (entry->offset == kKeyEntryOffset) {
      return Dispatch(arg, entry->value, from_list) == -1 ? -1 : 0;
    }
    void* field = static_cast<char*>(data_) + entry->offset;
    if (value_at != 0 && entry->templ[value_at + 1] != '\0') {
      const char* value = arg + value_at;
      if (entry->templ[value_at] == '=') ++value;
      return StoreValue(field, entry->templ + value_at + 1, value, arg);
    }
    *static_cast<int*>(field) = entry->value;
    return 0;
  }

  // Gives arg to the processing function under key, and keeps it in the
  // output (the -o list for from_list) if that says so: DISCARD drops it,
  // KEEP keeps it without asking, no function keeps everything.
  int Dispatch(const char* arg, int key, bool from_list) {
    if (key == FUSE_OPT_KEY_DISCARD) return 0;
    if (key != FUSE_OPT_KEY_KEEP && proc_ != nullptr) {
      int verdict = proc_(data_, arg, key, &out_);
      if (verdict == -1 || verdict == 0) return verdict;
    }
    return from_list ? AppendOption(&options_, arg, true) : fuse_opt_add_arg(&out_, arg);
  }

  // Steps to the argument after the current one, which `option` needs.
  int TakeNextArgument(const char* option) {
    if (next_ + 1 >= in_argc_) {
      fuse_log(FUSE_LOG_ERR, "fuse: missing argument after `%s'\n", option);
      return -1;
    }
    ++next_;
    return 0;
  }

  const int in_argc_;
  char** const in_argv_;
  void* const data_;
  const fuse_opt* const table_;
  const fuse_opt_proc_t proc_;
  int next_ = 0;                        // index in in_argv_ being processed
  fuse_args out_{0, nullptr, 0};        // the output vector so far
  char* options_ = nullptr;             // the kept -o options, escaped, or null
  int options_end_ = 0;                 // out_.argc right after "--", or 0
};

}  // namespace

extern "C" {

void fuse_opt_free_args(struct fuse_args* args) {
  if (args == nullptr) return;
  if (args->argv != nullptr && args->allocated != 0) {
    for (int i = 0; i < args->argc; ++i) std::free(args->argv[i]);
    std::free(args->argv);
  }
  args->argc = 0;
  args->argv = nullptr;
  args->allocated = 0;
}

int fuse_opt_add_arg(struct fuse_args* args, const char* arg) {
  // A vector the caller owns (FUSE_ARGS_INIT over main's argv) cannot grow.
  assert(args->argv == nullptr || args->allocated != 0);
  char* copy = strdup(arg);
  if (copy == nullptr) return AllocationFailed();
  auto* grown = static_cast<char**>(std::realloc(args->argv, sizeof(char*) * (args->argc + 2)));
  if (grown == nullptr) {
    std::free(copy);
    return AllocationFailed();
  }
  args->argv = grown;
  args->allocated = 1;
  args->argv[args->argc++] = copy;
  args->argv[args->argc] = nullptr;
  return 0;
}

int fuse_opt_insert_arg(struct fuse_args* args, int pos, const char* arg) {
  assert(pos <= args->argc);
  if (fuse_opt_add_arg(args, arg) == -1) return -1;
  int last = args->argc - 1;
  if (pos != last) {
    char* inserted = args->argv[last];
    std::memmove(&args->argv[pos + 1], &args->argv[pos], sizeof(char*) * (last - pos));
    args->argv[pos] = inserted;
  }
  return 0;
}

int fuse_opt_add_opt(char** opts, const char* opt) { return AppendOption(opts, opt, false); }

int fuse_opt_add_opt_escaped(char** opts, const char* opt) { return AppendOption(opts, opt, true); }

int fuse_opt_match(const struct fuse_opt opts[], const char* opt) {
  unsigned value_at = 0;
  return FirstMatch(opts, opt, &value_at) != nullptr ? 1 : 0;
}

int fuse_opt_parse(struct fuse_args* args, void* data, const struct fuse_opt opts[],
                   fuse_opt_proc_t proc) {
  if (args == nullptr || args->argv == nullptr || args->argc == 0) return 0;
  Parser parser(*args, data, opts, proc);
  int result = parser.Run();
  // On failure args stays as it was; the parser frees what it built.
  if (result != -1) parser.SwapOutput(args);
  return result;
}

}  // extern "C"
