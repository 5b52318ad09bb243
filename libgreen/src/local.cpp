#include <green/local.hpp>

namespace green::detail {

namespace {
std::uint64_t g_next_key = 0;
}

std::uint64_t local_new_key() noexcept { return __atomic_add_fetch(&g_next_key, 1, __ATOMIC_RELAXED); }

void* local_find(std::uint64_t key) {
  for (LocalSlot* s = current()->locals_; s; s = s->next)
    if (s->key == key) return s->value;
  return nullptr;
}

void local_insert(std::uint64_t key, void* value, void (*destroy)(void*)) {
  GreenletBase* g;
  try {
    g = current();
    g->locals_ = new LocalSlot{key, value, destroy, g->locals_};
  } catch (...) {
    destroy(value);
    throw;
  }
}

void local_erase(std::uint64_t key) {
  GreenletBase* g = current();
  for (LocalSlot** p = &g->locals_; *p; p = &(*p)->next) {
    if ((*p)->key == key) {
      LocalSlot* s = *p;
      *p = s->next;
      s->destroy(s->value);
      delete s;
      return;
    }
  }
}

}  // namespace green::detail
