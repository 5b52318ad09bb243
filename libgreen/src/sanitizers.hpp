// AddressSanitizer hooks for stack switching. Debian's Boost.Context is the
// fcontext build, whose fibers carry no sanitizer annotations, so the hub
// tells ASan about every switch itself (as folly and seastar do).
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define GREEN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GREEN_ASAN 1
#endif
#endif

#ifdef GREEN_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define GREEN_ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define GREEN_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace green::detail {

#ifdef GREEN_ASAN
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif

inline void asan_start_switch(void** fake_save, const void* bottom, std::size_t size) noexcept {
#ifdef GREEN_ASAN
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
  (void)fake_save, (void)bottom, (void)size;
#endif
}

inline void asan_finish_switch(void* fake_save, const void** old_bottom, std::size_t* old_size) noexcept {
#ifdef GREEN_ASAN
  __sanitizer_finish_switch_fiber(fake_save, old_bottom, old_size);
#else
  (void)fake_save, (void)old_bottom, (void)old_size;
#endif
}

}  // namespace green::detail
