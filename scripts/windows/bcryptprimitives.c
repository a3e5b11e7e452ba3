/* A test-environment shim, never shipped: Rust's standard library draws random bytes with
 * ProcessPrng from bcryptprimitives.dll, which Wine 8.0 (Debian 12) lacks, so no Rust program
 * starts there. This DLL gives it ProcessPrng, from advapi32's RtlGenRandom (SystemFunction036),
 * which Wine has. Built with mingw by scripts/test-windows.sh into the Wine prefix only. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
