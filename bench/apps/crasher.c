/* Stamps "start", runs CRASH_AFTER_MS, stamps "exit" and exits 1. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void stamp(const char *what) {
    char line[64];
    int n = snprintf(line, sizeof line, "%s %lld\n", what, now_ns());
    int fd = open(getenv("STAMPS"), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { (void)!write(fd, line, n); close(fd); }
}

int main(void) {
    stamp("start");
    usleep(atoi(getenv("CRASH_AFTER_MS")) * 1000);
    stamp("exit");
    return 1;
}
