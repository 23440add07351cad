/* Writes its start time (CLOCK_MONOTONIC ns) to $STAMPS, then waits for a signal; exits 0 on SIGINT/SIGTERM. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void stamp(const char *what) {
    const char *path = getenv("STAMPS");
    if (!path) return;
    char line[64];
    int n = snprintf(line, sizeof line, "%s %lld\n", what, now_ns());
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { (void)!write(fd, line, n); close(fd); }
}

static void on_stop(int sig) { (void)sig; _exit(0); }

int main(void) {
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    stamp("start");
    for (;;) pause();
}
