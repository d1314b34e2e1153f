// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch-bench-syscall: the syscall microbenchmark behind `make bench`.
 *
 *   agentwatch-bench-syscall OP N         run OP N times, print "OP <ns per op>"
 *   agentwatch-bench-syscall rate R SECS  open+close R times a second for SECS seconds,
 *                                         print "rate <achieved ops/s>"
 *
 * OP is getppid, openat-fail (ENOENT), open-close (/etc/hostname) or connect (TCP to a
 * loopback listener of its own). Timing is CLOCK_MONOTONIC around the loop; the caller compares
 * runs made in the same session, so only ratios mean anything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr->sin_port = 0;
	if (s < 0 || bind(s, (struct sockaddr *)addr, sizeof(*addr)) || listen(s, 4096) ||
	    getsockname(s, (struct sockaddr *)addr, &len))
		return -1;
	return s;
}

static int one_op(const char *op, const struct sockaddr_in *addr, int lfd)
{
	int fd;

	if (strcmp(op, "getppid") == 0) {
		syscall(SYS_getppid);
	} else if (strcmp(op, "openat-fail") == 0) {
		fd = openat(AT_FDCWD, "/nonexistent/agentwatch-bench", O_RDONLY);
		if (fd >= 0)
			close(fd);
	} else if (strcmp(op, "open-close") == 0) {
		fd = openat(AT_FDCWD, "/etc/hostname", O_RDONLY);
		if (fd < 0)
			return -errno;
		close(fd);
	} else if (strcmp(op, "connect") == 0) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof(*addr)))
			return -errno;
		close(fd);
		fd = accept(lfd, NULL, NULL);
		if (fd >= 0)
			close(fd);
	} else {
		return -EINVAL;
	}
	return 0;
}

static int run_rate(double rate, double secs)
{
	double start = now_ns(), interval = 1e9 / rate, next = start;
	long done = 0;

	while (now_ns() - start < secs * 1e9) {
		while (now_ns() < next)
			;
		if (one_op("open-close", NULL, -1))
			return 1;
		done++;
		next += interval;
	}
	printf("rate %.0f\n", done / ((now_ns() - start) / 1e9));
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = {};
	long i, n;
	int lfd = -1, err;
	double t0;

	if (argc == 4 && strcmp(argv[1], "rate") == 0)
		return run_rate(atof(argv[2]), atof(argv[3]));
	if (argc != 3) {
		fprintf(stderr,
			"usage: %s getppid|openat-fail|open-close|connect N\n"
			"       %s rate OPS_PER_SEC SECONDS\n",
			argv[0], argv[0]);
		return 64;
	}
	n = atol(argv[2]);
	if (strcmp(argv[1], "connect") == 0 && (lfd = listener(&addr)) < 0) {
		perror("listener");
		return 1;
	}
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		err = one_op(argv[1], &addr, lfd);
		if (err) {
			fprintf(stderr, "%s: %s\n", argv[1], strerror(-err));
			return 1;
		}
	}
	printf("%s %.1f\n", argv[1], (now_ns() - t0) / n);
	return 0;
}
