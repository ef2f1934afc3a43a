using System.Text;

namespace Tessera.Jinja;

/// <summary>Python's arithmetic operators on template values, with sizes bounded by the render budget.</summary>
internal static class Arithmetic
{
    public static object? Apply(BinaryOperator op, object? left, object? right, RenderBudget budget)
    {
        if (left is JinjaUndefined lu)
            throw lu.Error();
        if (right is JinjaUndefined ru)
            throw ru.Error();
        return op switch
        {
            BinaryOperator.Add => Add(left, right, budget),
            BinaryOperator.Multiply => Multiply(left, right, budget),
            _ when JinjaValues.IsNumber(left) && JinjaValues.IsNumber(right) => Numeric(op, left, right),
            _ => throw Unsupported(op, left, right),
        };
    }

    public static object? Negate(object? value) => value switch
    {
        long l => (object)checked(-l),
        bool b => b ? -1L : 0L,
        double d => -d,
        JinjaUndefined u => throw u.Error(),
        _ => throw new JinjaRuntimeError($"bad operand type for unary -: '{JinjaValues.TypeName(value)}'"),
    };

    private static object? Add(object? left, object? right, RenderBudget budget)
    {
        switch (left, right)
        {
            case (string ls, string rs):
                budget.CheckLength((long)ls.Length + rs.Length, "a string");
                return ls + rs;
            case (List<object?> ll, List<object?> rl):
                budget.CheckLength((long)ll.Count + rl.Count, "a list");
                return ll.Concat(rl).ToList();
            case (object?[] lt, object?[] rt):
                return lt.Concat(rt).ToArray();
        }
        if (JinjaValues.IsNumber(left) && JinjaValues.IsNumber(right))
            return Numeric(BinaryOperator.Add, left, right);
        throw Unsupported(BinaryOperator.Add, left, right);
    }

    private static object? Multiply(object? left, object? right, RenderBudget budget)
    {
        if (JinjaValues.IsNumber(left) && JinjaValues.IsNumber(right))
            return Numeric(BinaryOperator.Multiply, left, right);
        if (right is string or List<object?> && left is long or bool)
            (left, right) = (right, left);
        if (right is long or bool)
        {
            var times = Math.Max(0, JinjaValues.ToLong(right));
            switch (left)
            {
                case string s:
                    budget.CheckLength(s.Length * times, "a repeated string");
                    return new StringBuilder().Insert(0, s, (int)times).ToString();
                case List<object?> list:
                    budget.CheckCount(list.Count * times, "a repeated list");
                    var result = new List<object?>();
                    for (var i = 0; i < times; i++)
                        result.AddRange(list);
                    return result;
            }
        }
        throw Unsupported(BinaryOperator.Multiply, left, right);
    }

    private static object Numeric(BinaryOperator op, object? left, object? right)
    {
        if (op == BinaryOperator.Divide)
        {
            var divisor = JinjaValues.ToDouble(right);
            return divisor == 0 ? throw new JinjaRuntimeError("division by zero") : JinjaValues.ToDouble(left) / divisor;
        }
        if (left is double || right is double)
        {
            var a = JinjaValues.ToDouble(left);
            var b = JinjaValues.ToDouble(right);
            if (b == 0 && op is BinaryOperator.FloorDivide or BinaryOperator.Modulo)
                throw new JinjaRuntimeError("float division by zero");
            return op switch
            {
                BinaryOperator.Add => (object)(a + b),
                BinaryOperator.Subtract => a - b,
                BinaryOperator.Multiply => a * b,
                BinaryOperator.FloorDivide => Math.Floor(a / b),
                BinaryOperator.Modulo => a - b * Math.Floor(a / b),
                BinaryOperator.Power => Math.Pow(a, b),
                _ => throw Unsupported(op, left, right),
            };
        }
        var x = JinjaValues.ToLong(left);
        var y = JinjaValues.ToLong(right);
        try
        {
            return op switch
            {
                BinaryOperator.Add => (object)checked(x + y),
                BinaryOperator.Subtract => checked(x - y),
                BinaryOperator.Multiply => checked(x * y),
                BinaryOperator.FloorDivide => y == 0 ? throw new JinjaRuntimeError("integer division by zero") : FloorDiv(x, y),
                BinaryOperator.Modulo => y == 0 ? throw new JinjaRuntimeError("integer modulo by zero") : x - y * FloorDiv(x, y),
                BinaryOperator.Power => y < 0 ? Math.Pow(x, y) : (object)IntegerPower(x, y),
                _ => throw Unsupported(op, left, right),
            };
        }
        catch (OverflowException)
        {
            throw new JinjaRuntimeError("integer overflow: the result does not fit in 64 bits");
        }
    }

    private static long FloorDiv(long x, long y)
    {
        var q = x / y;
        return (x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q;
    }

    private static long IntegerPower(long x, long y)
    {
        var result = 1L;
        for (var i = 0L; i < y; i++)
        {
            result = checked(result * x);
            if (result is 0 or 1 && x is 0 or 1)
                break;
        }
        return result;
    }

    private static JinjaRuntimeError Unsupported(BinaryOperator op, object? left, object? right)
    {
        var symbol = op switch
        {
            BinaryOperator.Add => "+",
            BinaryOperator.Subtract => "-",
            BinaryOperator.Multiply => "*",
            BinaryOperator.Divide => "/",
            BinaryOperator.FloorDivide => "//",
            BinaryOperator.Modulo => "%",
            BinaryOperator.Power => "**",
            _ => op.ToString(),
        };
        var hint = op == BinaryOperator.Add && (left is string || right is string)
            ? "; use '~' to join a value to a string, or make sure it is a string"
            : "";
        return new JinjaRuntimeError($"unsupported operand types for {symbol}: '{JinjaValues.TypeName(left)}' and '{JinjaValues.TypeName(right)}'{hint}");
    }
}
