/* Speaks sd_notify on $NOTIFY_SOCKET: READY=1 at once, then WATCHDOG=1 every $PING_MS ms
 * until SIGUSR1, after which it stays silent (a wedged loop), writing the CLOCK_REALTIME ms of
 * its last ping to $STAMPS. Exits 0 on SIGINT/SIGTERM. */
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t silent = 0;
static void on_usr1(int sig) { (void)sig; silent = 1; }
static void on_stop(int sig) { (void)sig; _exit(0); }

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(void) {
    signal(SIGUSR1, on_usr1);
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path) return 2;
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    socklen_t len;
    if (path[0] == '@') {
        addr.sun_path[0] = '\0';
        strncpy(addr.sun_path + 1, path + 1, sizeof addr.sun_path - 2);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path + 1));
    } else {
        strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
        len = sizeof addr;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(fd, "READY=1", 7, 0, (struct sockaddr *)&addr, len);
    long ping = getenv("PING_MS") ? atol(getenv("PING_MS")) : 1000;
    long long last = now_ms();
    for (;;) {
        if (!silent) {
            sendto(fd, "WATCHDOG=1", 10, 0, (struct sockaddr *)&addr, len);
            last = now_ms();
        } else if (getenv("STAMPS")) {
            char line[32];
            int n = snprintf(line, sizeof line, "%lld\n", last);
            int out = open(getenv("STAMPS"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out >= 0) { (void)!write(out, line, n); close(out); }
            for (;;) pause();
        }
        usleep((useconds_t)ping * 1000);
    }
}
