namespace Tessera.Pool; internal static class Placeholder { }
