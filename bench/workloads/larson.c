/* Larson-style server churn: each thread owns a table of live blocks and, round after round,
 * frees a random one and allocates a new one of a random size (16..1024 bytes), touching it;
 * at the end of each of its rounds it hands its table to the next thread (blocks freed by a
 * thread that did not allocate them, as a server's worker threads do).
 * Usage: larson THREADS ROUNDS. Prints a checksum independent of the allocator. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 2000
#define STEPS 20000
static int threads, rounds;
static unsigned char **tables[64];
static pthread_barrier_t barrier;
static uint64_t sums[64];

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *worker(void *arg) {
    long t = (long)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1), sum = 0;
    for (int r = 0; r < rounds; r++) {
        unsigned char **tab = tables[(t + r) % threads];
        for (int i = 0; i < STEPS; i++) {
            uint64_t x = next(&rng);
            int k = (int)(x % SLOTS);
            size_t n = 16 + (size_t)((x >> 20) % 1009);
            if (tab[k]) sum += tab[k][0];
            free(tab[k]);
            tab[k] = malloc(n);
            tab[k][0] = (unsigned char)x;
            tab[k][n - 1] = 1;
        }
        pthread_barrier_wait(&barrier);
    }
    sums[t] = sum;
    return NULL;
}

int main(int argc, char **argv) {
    threads = argc > 1 ? atoi(argv[1]) : 4;
    rounds = argc > 2 ? atoi(argv[2]) : 50;
    if (threads < 1 || threads > 64) return 2;
    for (int t = 0; t < threads; t++) tables[t] = calloc(SLOTS, sizeof(unsigned char *));
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    pthread_t th[64];
    for (long t = 0; t < threads; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    uint64_t sum = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        sum += sums[t];
    }
    for (int t = 0; t < threads; t++) {
        for (int k = 0; k < SLOTS; k++) free(tables[t][k]);
        free(tables[t]);
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
