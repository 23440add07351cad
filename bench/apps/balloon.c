/* Grows its resident memory by GROW_MIB_PER_S; stamps "cross" when its RSS (read from
   /proc/self/statm, as the supervisor sees it) passes LIMIT_MIB, and "signal" when told to
   stop (then exits 0). */
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

static void stamp(const char *what, long long mib) {
    char line[96];
    int n = snprintf(line, sizeof line, "%s %lld %lld\n", what, now_ns(), mib);
    int fd = open(getenv("STAMPS"), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { (void)!write(fd, line, n); close(fd); }
}

static volatile long long held_mib;

static long long rss_bytes(void) {
    long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2) resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}
static void on_stop(int sig) { (void)sig; stamp("signal", held_mib); _exit(0); }

int main(void) {
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    long long limit = atoll(getenv("LIMIT_MIB"));
    long long rate = atoll(getenv("GROW_MIB_PER_S"));
    int crossed = 0;
    stamp("start", 0);
    for (;;) {
        char *p = malloc(1 << 20);
        memset(p, 1, 1 << 20);
        held_mib++;
        if (!crossed && rss_bytes() > limit * 1048576LL) { crossed = 1; stamp("cross", held_mib); }
        usleep(1000000 / rate);
    }
}
