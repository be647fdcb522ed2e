/* Exercises the C allocation ABI as a host program sees it; run under LD_PRELOAD by abi.rs.
 * Prints "ok" and exits 0, or names the first failed check and exits 1. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);    \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 31);
}
static int same(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 31)) return 0;
    return 1;
}

static void sizes_and_alignment(void) {
    static const size_t sizes[] = {0, 1, 7, 8, 15, 16, 17, 24, 95, 96, 97, 100, 191, 192, 200,
                                   255, 1000, 4095, 4096, 8191, 8192, 8193, 20000, 65536,
                                   1 << 20, (4 << 20) - 1, 4 << 20, (4 << 20) + 1, 40 << 20};
    void *ps[sizeof sizes / sizeof sizes[0]];
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = malloc(sizes[i]);
        CHECK(p != NULL);
        CHECK((uintptr_t)p % 16 == 0);
        CHECK(malloc_usable_size(p) >= sizes[i]);
        fill(p, sizes[i], i);
        ps[i] = p;
    }
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        CHECK(same(ps[i], sizes[i], i));
        free(ps[i]);
    }
    free(NULL);
    CHECK(malloc_usable_size(NULL) == 0);
}

/* Sizes the compiler cannot see, for requests that must overflow. */
static volatile size_t huge = (size_t)1 << 40;

static void calloc_zeroes(void) {
    for (int round = 0; round < 3; round++) {
        for (size_t n = 1; n < 70000; n = n * 3 + 1) {
            unsigned char *p = malloc(n);
            memset(p, 0xa5, n);
            free(p);
            unsigned char *q = calloc(n, 1);
            CHECK(q != NULL);
            for (size_t i = 0; i < n; i++) CHECK(q[i] == 0);
            free(q);
        }
    }
    CHECK(calloc(huge, huge) == NULL);
    unsigned char *big = calloc(10 << 20, 1);
    CHECK(big && big[0] == 0 && big[(10 << 20) - 1] == 0);
    free(big);
}

static void realloc_keeps_contents(void) {
    unsigned char *p = NULL;
    size_t n = 0;
    for (size_t next = 1; next < (12 << 20); next = next * 2 + 3) {
        p = realloc(p, next);
        CHECK(p != NULL);
        CHECK(same(p, n, 7));
        fill(p, next, 7);
        n = next;
    }
    for (size_t next = n / 3; next > 0; next /= 3) {
        p = realloc(p, next);
        CHECK(p != NULL);
        CHECK(same(p, next, 7));
    }
    CHECK(realloc(p, 0) == NULL);
    p = realloc(NULL, 100);
    CHECK(p != NULL);
    p = reallocarray(p, 10, 30);
    CHECK(p != NULL && malloc_usable_size(p) >= 300);
    CHECK(reallocarray(p, huge, huge) == NULL);
    free(p);
}

static void aligned(void) {
    for (size_t a = 8; a <= (1 << 22); a *= 2) {
        for (size_t s = 1; s < (1 << 20); s = s * 5 + 3) {
            void *p = NULL;
            CHECK(posix_memalign(&p, a, s) == 0);
            CHECK((uintptr_t)p % a == 0);
            memset(p, 1, s);
            void *q = aligned_alloc(a, s);
            CHECK(q && (uintptr_t)q % a == 0);
            memset(q, 2, s);
            void *r = memalign(a, s);
            CHECK(r && (uintptr_t)r % a == 0);
            memset(r, 3, s);
            free(p);
            free(q);
            free(r);
        }
    }
    void *p;
    CHECK(posix_memalign(&p, 24, 10) != 0);
    p = valloc(100);
    CHECK(p && (uintptr_t)p % 4096 == 0);
    free(p);
    p = pvalloc(5000);
    CHECK(p && (uintptr_t)p % 4096 == 0 && malloc_usable_size(p) >= 8192);
    free(p);
}

/* Threads allocate and hand half their objects to the next thread, which frees them. */
#define THREADS 6
#define PER 20000
static void *slots[THREADS][PER];
static pthread_barrier_t barrier;

static void *worker(void *arg) {
    long t = (long)arg;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < PER; i++) {
            size_t n = 2 + (size_t)((i * 7919 + t * 131 + round) % 3000);
            unsigned char *p = malloc(n);
            CHECK(p != NULL);
            p[0] = (unsigned char)t;
            p[n - 1] = (unsigned char)i;
            slots[t][i] = p;
        }
        for (int i = 0; i < PER; i += 2) free(slots[t][i]);
        pthread_barrier_wait(&barrier);
        long from = (t + 1) % THREADS;
        for (int i = 1; i < PER; i += 2) {
            unsigned char *p = slots[from][i];
            CHECK(p[0] == (unsigned char)from);
            free(p);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

static void threads_free_each_others_objects(void) {
    pthread_t th[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (long t = 0; t < THREADS; t++) CHECK(pthread_create(&th[t], NULL, worker, (void *)t) == 0);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
}

static volatile int spinning = 1;
static void *churn(void *arg) {
    (void)arg;
    while (spinning) free(malloc(64));
    return NULL;
}

/* A fork while another thread allocates: the child allocates freely. */
static void fork_while_allocating(void) {
    pthread_t th;
    CHECK(pthread_create(&th, NULL, churn, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            for (int j = 0; j < 10000; j++) free(malloc((size_t)(j % 5000) + 1));
            _exit(0);
        }
        int st = 0;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    spinning = 0;
    pthread_join(th, NULL);
}

/* Runs the calling thread on `cpu` only; 0 if the machine has no such CPU. */
static int move_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

/* Resident bytes of this process. */
static long resident(void) {
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

/* A thread that moves to another CPU between its frees and its next allocations gets its own
 * freed memory back, instead of leaving it with the CPU it left and taking fresh memory. */
#define REUSE 50000
static void *objs[REUSE];
static void reuse_after_moving_cpu(void) {
    if (!move_to(0)) return;
    long before = resident();
    for (int i = 0; i < REUSE; i++) memset(objs[i] = malloc(64), 1, 64);
    long first = resident() - before;
    int moved = move_to(1);
    for (int i = 0; i < REUSE; i++) free(objs[i]);
    for (int i = 0; i < REUSE; i++) memset(objs[i] = malloc(64), 2, 64);
    long second = resident() - before - first;
    if (moved && before > 0) CHECK(second < first / 4);
    for (int i = 0; i < REUSE; i++) free(objs[i]);
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; c++) CPU_SET(c, &all);
    sched_setaffinity(0, sizeof all, &all);
}

int main(void) {
    /* First, while no other 64-byte object was ever freed: the ones it frees are then the only
     * free ones the second round could be given back. */
    reuse_after_moving_cpu();
    sizes_and_alignment();
    calloc_zeroes();
    realloc_keeps_contents();
    aligned();
    threads_free_each_others_objects();
    fork_while_allocating();
    char *s = strdup("on memserver");
    CHECK(s && strcmp(s, "on memserver") == 0);
    free(s);
    puts("ok");
    return 0;
}
