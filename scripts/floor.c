/* The floor: the least a sandbox launcher can do to give /bin/true the
 * view `hakoniwa run` gives by default, with nothing else — clone into new
 * user, mount and pid namespaces, write the id maps, build a tmpfs root
 * with read-only binds of the system directories and a /proc,
 * pivot_root, exec. No error messages, no options, no seccomp.
 * Built and run by scripts/bench-startup.sh; not part of hakoniwa. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) _exit(120);
    close(fd);
}

static void bind_ro(const char *src, const char *dst) {
    mkdir(dst, 0755);
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) _exit(121);
    if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL)) _exit(122);
}

int main(int argc, char **argv) {
    int sync[2];
    if (argc < 2 || pipe2(sync, O_CLOEXEC)) return 2;
    pid_t pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) return 3;
    if (pid == 0) {
        char go;
        close(sync[1]);
        if (read(sync[0], &go, 1) != 0) _exit(123);
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        if (mount("tmpfs", "/tmp", "tmpfs", 0, NULL)) _exit(124);
        chdir("/tmp");
        mkdir("old", 0755);
        bind_ro("/usr", "usr");
        bind_ro("/etc", "etc");
        symlink("usr/bin", "bin");
        symlink("usr/lib", "lib");
        symlink("usr/lib64", "lib64");
        symlink("usr/sbin", "sbin");
        /* Before the host's /proc goes: a user namespace may mount a proc
         * only while a full one is visible. */
        mkdir("proc", 0755);
        if (mount("proc", "proc", "proc", 0, NULL)) _exit(126);
        if (syscall(SYS_pivot_root, ".", "old")) _exit(125);
        chdir("/");
        umount2("/old", MNT_DETACH);
        rmdir("/old");
        pid_t child = fork();
        if (child == 0) {
            execv(argv[1], argv + 1);
            _exit(127);
        }
        int status;
        waitpid(child, &status, 0);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    char path[64], map[64];
    snprintf(map, sizeof map, "%d %d 1\n", getuid(), getuid());
    snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
    put(path, map);
    snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
    put(path, "deny");
    snprintf(map, sizeof map, "%d %d 1\n", getgid(), getgid());
    snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
    put(path, map);
    close(sync[1]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
