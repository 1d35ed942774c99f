/* The syscall loop of scripts/bench-seccomp.sh, under a filter built by
 * libseccomp from the same podman profile hakoniwa compiles (the rules
 * come from a header the script generates from the JSON).
 *
 *   seccomp-loop none|libseccomp getppid|personality CALLS
 *
 * prints the nanoseconds per call. Needs libseccomp-dev to build. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <time.h>
#include <unistd.h>

struct arg { unsigned index; enum scmp_compare op; unsigned long long value; };
struct rule { const char *name; int allow; int errno_ret; int nargs; struct arg args[6]; };

#include "seccomp-rules.h" /* static const struct rule RULES[]; DEFAULT_ERRNO */

static int load_podman(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(DEFAULT_ERRNO));
  if (!ctx) return -1;
  if (seccomp_arch_add(ctx, SCMP_ARCH_X86) < 0) return -1;
  for (size_t i = 0; i < sizeof(RULES) / sizeof(RULES[0]); i++) {
    const struct rule *r = &RULES[i];
    int nr = seccomp_syscall_resolve_name(r->name);
    if (nr == __NR_SCMP_ERROR) continue; /* not on this machine */
    struct scmp_arg_cmp cmp[6];
    for (int a = 0; a < r->nargs; a++)
      cmp[a] = (struct scmp_arg_cmp){r->args[a].index, r->args[a].op, r->args[a].value, 0};
    uint32_t action = r->allow ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(r->errno_ret);
    seccomp_rule_add_array(ctx, action, nr, r->nargs, cmp);
  }
  int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: seccomp-loop none|libseccomp getppid|personality CALLS\n");
    return 2;
  }
  if (strcmp(argv[1], "libseccomp") == 0 && load_podman() < 0) {
    fprintf(stderr, "seccomp-loop: libseccomp could not load the filter\n");
    return 1;
  }
  int use_personality = strcmp(argv[2], "personality") == 0;
  long calls = atol(argv[3]);
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < calls; i++) {
    if (use_personality)
      personality(0xffffffff);
    else
      getppid();
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  double ns = (end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec);
  printf("%.1f\n", ns / calls);
  return 0;
}
