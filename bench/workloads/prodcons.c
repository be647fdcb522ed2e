/* Cross-thread producer/consumer: PAIRS producer threads allocate 64-byte messages and pass
 * them through a ring to their consumer thread, which reads and frees them (every free is of
 * a block another thread allocated). Usage: prodcons PAIRS MESSAGES. Prints a checksum. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>

#define RING 1024
struct ring {
    _Atomic size_t head, tail;
    uint64_t *slot[RING];
    uint64_t sum;
};
static long messages;
static struct ring rings[16];

static void *producer(void *arg) {
    struct ring *r = arg;
    for (long i = 0; i < messages; i++) {
        uint64_t *m = malloc(64);
        m[0] = (uint64_t)i;
        m[7] = (uint64_t)i * 3;
        size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        while (h - atomic_load_explicit(&r->tail, memory_order_acquire) == RING) sched_yield();
        r->slot[h % RING] = m;
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg) {
    struct ring *r = arg;
    for (long i = 0; i < messages; i++) {
        size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        while (atomic_load_explicit(&r->head, memory_order_acquire) == t) sched_yield();
        uint64_t *m = r->slot[t % RING];
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
        r->sum += m[0] + m[7];
        free(m);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int pairs = argc > 1 ? atoi(argv[1]) : 2;
    messages = argc > 2 ? atol(argv[2]) : 1000000;
    if (pairs < 1 || pairs > 16) return 2;
    pthread_t p[16], c[16];
    for (int i = 0; i < pairs; i++) {
        pthread_create(&p[i], NULL, producer, &rings[i]);
        pthread_create(&c[i], NULL, consumer, &rings[i]);
    }
    uint64_t sum = 0;
    for (int i = 0; i < pairs; i++) {
        pthread_join(p[i], NULL);
        pthread_join(c[i], NULL);
        sum += rings[i].sum;
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
