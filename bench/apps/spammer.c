/* Writes LINES numbered 100-byte lines to stdout (64 KiB writes) as fast as it can, or at RATE
   bytes a second when set, stamps its start and end (CLOCK_MONOTONIC ns) into $STAMPS, then
   waits to be stopped (or exits with EXIT set). */
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
    long lines = atol(getenv("LINES") ? getenv("LINES") : "1000000");
    long long rate = getenv("RATE") ? atoll(getenv("RATE")) : 0;
    static char buf[65536];
    size_t used = 0;
    long long written = 0, t0 = now_ns();
    stamp("start");
    /* 99 characters and a newline: a 9-digit number, a space, padding. The number is
       incremented in ASCII so the program is bound by write(), not by formatting. */
    char line[100];
    memset(line, 'x', sizeof line);
    memset(line, '0', 9);
    line[9] = ' ';
    line[99] = '\n';
    for (long i = 0; i < lines; i++) {
        if (used + 100 > sizeof buf) {
            for (size_t off = 0; off < used;) { ssize_t w = write(1, buf + off, used - off); if (w <= 0) return 1; off += w; }
            written += used;
            used = 0;
            if (rate > 0) {
                /* Paced: sleep until this many bytes are due. */
                long long due = t0 + written * 1000000000LL / rate, wait = due - now_ns();
                if (wait > 0) {
                    struct timespec ts = { wait / 1000000000LL, wait % 1000000000LL };
                    nanosleep(&ts, NULL);
                }
            }
        }
        memcpy(buf + used, line, 100);
        used += 100;
        for (int d = 8; d >= 0; d--) { if (line[d] == '9') { line[d] = '0'; } else { line[d]++; break; } }
    }
    for (size_t off = 0; off < used;) { ssize_t w = write(1, buf + off, used - off); if (w <= 0) return 1; off += w; }
    stamp("end");
    if (getenv("EXIT")) return 0;
    for (;;) pause();
}
