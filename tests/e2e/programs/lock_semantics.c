/* Return codes and errno of every interposed lock/wait function in its contended and error
 * cases (locks e2e test: the output must be identical with and without the agent). Each
 * line: "<case> <return value> <errno>". */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_robust;
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static int g_stage;
static pthread_mutex_t g_stage_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_stage_cond = PTHREAD_COND_INITIALIZER;

static void set_stage(int s) {
  pthread_mutex_lock(&g_stage_mutex);
  g_stage = s;
  pthread_cond_broadcast(&g_stage_cond);
  pthread_mutex_unlock(&g_stage_mutex);
}
static void wait_stage(int s) {
  pthread_mutex_lock(&g_stage_mutex);
  while (g_stage < s) pthread_cond_wait(&g_stage_cond, &g_stage_mutex);
  pthread_mutex_unlock(&g_stage_mutex);
}

static void* holder(void* unused) {
  (void)unused;
  pthread_mutex_lock(&g_held);
  pthread_rwlock_wrlock(&g_rw);
  set_stage(1);
  wait_stage(2);
  pthread_rwlock_unlock(&g_rw);
  pthread_mutex_unlock(&g_held);
  return NULL;
}

static void* dies_holding(void* unused) {
  (void)unused;
  pthread_mutex_lock(&g_robust);
  return NULL;  /* exits owning a robust mutex */
}

static void show(const char* what, int rc) { printf("%s %d %d\n", what, rc, errno); errno = 0; }

int main(void) {
  struct timespec soon;
  pthread_t t;
  pthread_create(&t, NULL, holder, NULL);
  wait_stage(1);

  clock_gettime(CLOCK_REALTIME, &soon);
  soon.tv_nsec += 20 * 1000 * 1000;
  if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
  errno = 0;
  show("mutex_timedlock_busy", pthread_mutex_timedlock(&g_held, &soon));
  show("rwlock_timedrdlock_busy", pthread_rwlock_timedrdlock(&g_rw, &soon));
  show("rwlock_timedwrlock_busy", pthread_rwlock_timedwrlock(&g_rw, &soon));
  struct timespec bad = {0, -1};
  show("mutex_timedlock_bad_time", pthread_mutex_timedlock(&g_held, &bad));
  set_stage(2);
  pthread_join(t, NULL);

  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t ec;
  pthread_mutex_init(&ec, &a);
  show("errorcheck_lock", pthread_mutex_lock(&ec));
  show("errorcheck_relock", pthread_mutex_lock(&ec));
  show("errorcheck_unlock", pthread_mutex_unlock(&ec));
  show("errorcheck_unlock_unowned", pthread_mutex_unlock(&ec));

  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_t rec;
  pthread_mutex_init(&rec, &a);
  show("recursive_lock", pthread_mutex_lock(&rec));
  show("recursive_relock", pthread_mutex_lock(&rec));
  show("recursive_unlock", pthread_mutex_unlock(&rec));
  show("recursive_unlock2", pthread_mutex_unlock(&rec));

  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&g_robust, &a);
  pthread_create(&t, NULL, dies_holding, NULL);
  pthread_join(t, NULL);
  show("robust_owner_died", pthread_mutex_lock(&g_robust));
  show("robust_consistent", pthread_mutex_consistent(&g_robust));
  show("robust_unlock", pthread_mutex_unlock(&g_robust));

  pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
  show("rwlock_wrlock", pthread_rwlock_wrlock(&rw));
  show("rwlock_rdlock_self_deadlock", pthread_rwlock_rdlock(&rw));
  show("rwlock_unlock", pthread_rwlock_unlock(&rw));

  sem_t s;
  sem_init(&s, 0, 1);
  show("sem_wait_available", sem_wait(&s));
  clock_gettime(CLOCK_REALTIME, &soon);
  soon.tv_nsec += 10 * 1000 * 1000;
  if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
  show("sem_timedwait_timeout", sem_timedwait(&s, &soon));
  show("sem_timedwait_bad_time", sem_timedwait(&s, &bad));

  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&m);
  clock_gettime(CLOCK_REALTIME, &soon);
  soon.tv_nsec += 10 * 1000 * 1000;
  if (soon.tv_nsec >= 1000000000) { soon.tv_sec++; soon.tv_nsec -= 1000000000; }
  show("cond_timedwait_timeout", pthread_cond_timedwait(&c, &m, &soon));
  pthread_mutex_unlock(&m);

  show("join_self", pthread_join(pthread_self(), NULL));
  pthread_barrier_t b;
  pthread_barrier_init(&b, NULL, 1);
  show("barrier_single", pthread_barrier_wait(&b));
  return 0;
}
