// SPDX-License-Identifier: Apache-2.0
/*
 * uring: one io_uring operation, for the policy evasion tests (tests/vm/policy_evasion.sh).
 * No liburing: io_uring_setup, the three ring mmaps and io_uring_enter by hand.
 *
 *   uring openat PATH        IORING_OP_OPENAT of PATH, read-only, then read(2) of what it opened
 *   uring connect ADDR PORT  IORING_OP_CONNECT of a TCP socket (AF_INET6 when ADDR has a ':')
 *
 * Prints "ok" (exit 0) or "errno=NAME" (exit 3) for the operation; exit 1 when the ring itself
 * could not be set up, 2 on a usage error, so that a refused operation is never mistaken for a
 * missing io_uring.
 *
 * Build: cc -O2 -o build/tests/helpers/uring tests/helpers/uring.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static int ring_setup(struct ring *r)
{
	struct io_uring_params p;
	void *sq, *cq;
	size_t sq_len, cq_len;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		  IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		return -errno;
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		cq = sq;
		if (cq_len > sq_len) { /* one mapping serves both: it must be long enough */
			munmap(sq, sq_len);
			sq = cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
			if (sq == MAP_FAILED)
				return -errno;
		}
	} else {
		cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
			  IORING_OFF_CQ_RING);
		if (cq == MAP_FAILED)
			return -errno;
	}
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		return -errno;
	r->sq_tail = (unsigned *)((char *)sq + p.sq_off.tail);
	r->sq_mask = (unsigned *)((char *)sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned *)((char *)sq + p.sq_off.array);
	r->cq_head = (unsigned *)((char *)cq + p.cq_off.head);
	r->cq_tail = (unsigned *)((char *)cq + p.cq_off.tail);
	r->cq_mask = (unsigned *)((char *)cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)((char *)cq + p.cq_off.cqes);
	return 0;
}

/* Submit one SQE, wait for its completion, return its res. */
static int ring_run(struct ring *r, const struct io_uring_sqe *sqe, int *res)
{
	unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask, head;
	int n;

	r->sqes[idx] = *sqe;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	n = syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
	if (n < 0)
		return -errno;
	head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	*res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return 0;
}

static int report(int res)
{
	if (res >= 0) {
		printf("ok\n");
		return 0;
	}
	printf("errno=%s\n", strerrorname_np(-res) ? strerrorname_np(-res) : "?");
	return 3;
}

int main(int argc, char **argv)
{
	struct io_uring_sqe sqe;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct ring r = {0};
	int err, res = 0, sock;

	if (argc < 3 || (strcmp(argv[1], "connect") == 0 && argc < 4)) {
		fprintf(stderr, "usage: uring openat PATH | uring connect ADDR PORT\n");
		return 2;
	}
	err = ring_setup(&r);
	if (err) {
		fprintf(stderr, "uring: setup: %s\n", strerror(-err));
		return 1;
	}
	memset(&sqe, 0, sizeof(sqe));
	if (strcmp(argv[1], "openat") == 0) {
		sqe.opcode = IORING_OP_OPENAT;
		sqe.fd = AT_FDCWD;
		sqe.addr = (unsigned long)argv[2];
		sqe.open_flags = O_RDONLY;
	} else if (strcmp(argv[1], "connect") == 0) {
		memset(&ss, 0, sizeof(ss));
		if (strchr(argv[2], ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(atoi(argv[3]));
			if (inet_pton(AF_INET6, argv[2], &s6->sin6_addr) != 1)
				return fprintf(stderr, "uring: bad address\n"), 2;
			sslen = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			s4->sin_port = htons(atoi(argv[3]));
			if (inet_pton(AF_INET, argv[2], &s4->sin_addr) != 1)
				return fprintf(stderr, "uring: bad address\n"), 2;
			sslen = sizeof(*s4);
		}
		sock = socket(ss.ss_family, SOCK_STREAM, 0);
		if (sock < 0)
			return fprintf(stderr, "uring: socket: %s\n", strerror(errno)), 1;
		sqe.opcode = IORING_OP_CONNECT;
		sqe.fd = sock;
		sqe.addr = (unsigned long)&ss;
		sqe.off = sslen;
	} else {
		fprintf(stderr, "uring: unknown operation '%s'\n", argv[1]);
		return 2;
	}
	err = ring_run(&r, &sqe, &res);
	if (err) {
		fprintf(stderr, "uring: io_uring_enter: %s\n", strerror(-err));
		return 1;
	}
	if (res >= 0 && sqe.opcode == IORING_OP_OPENAT) {
		char buf[64];

		/* the ring opened it: show that the bytes are readable too */
		if (read(res, buf, sizeof(buf)) < 0)
			res = -errno;
	}
	return report(res);
}
