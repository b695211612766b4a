/* Stand-in for Windows' bcryptprimitives.dll, for Wine before 8.13 (Debian 12 ships 8.0).
 *
 * Rust's std (1.78 and later) imports ProcessPrng from bcryptprimitives.dll; Wine 8.0 has no
 * such DLL, so every Rust .exe fails to load and exits with code 53 without printing anything.
 * This DLL exports ProcessPrng, implemented with BCryptGenRandom (which Wine 8.0 has).
 * Built and installed into the Wine prefix by scripts/test-windows; never shipped. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
