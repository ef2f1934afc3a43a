namespace Tessera.Jinja;

internal sealed partial class TemplateRenderer
{
    private object? Evaluate(Expression expression, Scope scope)
    {
        try
        {
            return EvaluateCore(expression, scope);
        }
        catch (JinjaRuntimeError error)
        {
            throw new TemplateRenderException(error.Message, expression.Position.Line, expression.Position.Column);
        }
        catch (InvalidCastException)
        {
            throw new TemplateRenderException("a value had the wrong type for this operation", expression.Position.Line, expression.Position.Column);
        }
    }

    private object? EvaluateCore(Expression expression, Scope scope)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return scope.TryGet(name.Name, out var value) ? value : new JinjaUndefined(name.Name);
            case ListExpression list:
                return list.Items.Select(i => Evaluate(i, scope)).ToList();
            case TupleExpression tuple:
                return tuple.Items.Select(i => Evaluate(i, scope)).ToArray();
            case DictExpression dict:
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var entry in dict.Entries)
                    result[JinjaValues.ToText(Evaluate(entry.Key, scope))] = Evaluate(entry.Value, scope);
                return result;
            case AttributeExpression attribute:
                return JinjaValues.GetAttribute(Evaluate(attribute.Target, scope), attribute.Name, Describe(attribute));
            case ItemExpression item:
                var target = Evaluate(item.Target, scope);
                var key = Evaluate(item.Key, scope);
                return JinjaValues.GetItem(target, key, $"{Describe(item.Target)}[{JinjaValues.Repr(key)}]");
            case SliceExpression slice:
                return JinjaValues.Slice(
                    Evaluate(slice.Target, scope),
                    slice.Start == null ? null : Evaluate(slice.Start, scope),
                    slice.Stop == null ? null : Evaluate(slice.Stop, scope),
                    slice.Step == null ? null : Evaluate(slice.Step, scope));
            case UnaryExpression unary:
                var operand = Evaluate(unary.Operand, scope);
                return unary.Operator switch
                {
                    UnaryOperator.Not => !JinjaValues.IsTruthy(operand),
                    UnaryOperator.Negate => Arithmetic.Negate(operand),
                    _ => operand is JinjaUndefined u ? throw u.Error() : JinjaValues.IsNumber(operand)
                        ? operand
                        : throw new JinjaRuntimeError($"bad operand type for unary +: '{JinjaValues.TypeName(operand)}'"),
                };
            case BinaryExpression binary:
                return EvaluateBinary(binary, scope);
            case CompareExpression compare:
                var left = Evaluate(compare.First, scope);
                foreach (var link in compare.Rest)
                {
                    var right = Evaluate(link.Operand, scope);
                    if (!Compare(link.Operator, left, right))
                        return false;
                    left = right;
                }
                return true;
            case ConditionalExpression conditional:
                if (JinjaValues.IsTruthy(Evaluate(conditional.Test, scope)))
                    return Evaluate(conditional.Then, scope);
                return conditional.Otherwise != null
                    ? Evaluate(conditional.Otherwise, scope)
                    : new JinjaUndefined($"the inline if-expression at {conditional.Position}, which has no else,");
            case CallExpression call:
                return EvaluateCall(call, scope);
            case FilterExpression filter:
                var filtered = Evaluate(filter.Target, scope);
                return BuiltinFilters.Apply(filter.Name, filtered, EvaluateArguments(filter.Arguments, scope), this);
            case TestExpression test:
                var tested = Evaluate(test.Target, scope);
                return BuiltinTests.Apply(test.Name, tested, EvaluateArguments(test.Arguments, scope)) != test.Negated;
            default:
                throw new InvalidOperationException($"Unknown expression {expression.GetType().Name}");
        }
    }

    private object? EvaluateBinary(BinaryExpression binary, Scope scope)
    {
        var left = Evaluate(binary.Left, scope);
        switch (binary.Operator)
        {
            case BinaryOperator.And:
                return JinjaValues.IsTruthy(left) ? Evaluate(binary.Right, scope) : left;
            case BinaryOperator.Or:
                return JinjaValues.IsTruthy(left) ? left : Evaluate(binary.Right, scope);
            case BinaryOperator.Concat:
                var text = JinjaValues.ToText(left) + JinjaValues.ToText(Evaluate(binary.Right, scope));
                Budget.CheckLength(text.Length, "a string");
                return text;
            default:
                return Arithmetic.Apply(binary.Operator, left, Evaluate(binary.Right, scope), Budget);
        }
    }

    private static bool Compare(CompareOperator op, object? left, object? right) => op switch
    {
        CompareOperator.Equal => JinjaValues.AreEqual(left, right),
        CompareOperator.NotEqual => !JinjaValues.AreEqual(left, right),
        CompareOperator.Less => JinjaValues.Compare(left, right) < 0,
        CompareOperator.LessOrEqual => JinjaValues.Compare(left, right) <= 0,
        CompareOperator.Greater => JinjaValues.Compare(left, right) > 0,
        CompareOperator.GreaterOrEqual => JinjaValues.Compare(left, right) >= 0,
        CompareOperator.In => JinjaValues.Contains(right, left),
        _ => !JinjaValues.Contains(right, left),
    };

    private object? EvaluateCall(CallExpression call, Scope scope)
    {
        if (call.Callee is AttributeExpression method)
        {
            var target = Evaluate(method.Target, scope);
            var methodArguments = EvaluateArguments(call.Arguments, scope);
            if (BuiltinMethods.TryInvoke(target, method.Name, methodArguments, this, out var result))
                return result;
            return Invoke(JinjaValues.GetAttribute(target, method.Name, Describe(method)), methodArguments, call.Position);
        }
        var callee = Evaluate(call.Callee, scope);
        return Invoke(callee, EvaluateArguments(call.Arguments, scope), call.Position);
    }

    private object? Invoke(object? callee, CallArguments arguments, SourcePosition at) => callee switch
    {
        IJinjaCallable callable => callable.Invoke(arguments, this, at),
        JinjaUndefined undefined => throw new JinjaRuntimeError($"'{undefined.Name}' is undefined and cannot be called"),
        _ => throw new JinjaRuntimeError($"'{JinjaValues.TypeName(callee)}' object is not callable"),
    };

    private CallArguments EvaluateArguments(ArgumentList arguments, Scope scope)
    {
        if (arguments.Positional.Count == 0 && arguments.Keyword.Count == 0)
            return CallArguments.None;
        var positional = arguments.Positional.Select(a => Evaluate(a, scope)).ToList();
        var keyword = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var argument in arguments.Keyword)
            keyword[argument.Name] = Evaluate(argument.Value, scope);
        return new CallArguments(positional, keyword);
    }

    /// <summary>How an expression reads in an "is undefined" message: <c>messages[0].content</c>.</summary>
    private static string Describe(Expression expression) => expression switch
    {
        NameExpression name => name.Name,
        AttributeExpression attribute => $"{Describe(attribute.Target)}.{attribute.Name}",
        ItemExpression { Key: LiteralExpression key } item => $"{Describe(item.Target)}[{JinjaValues.Repr(key.Value)}]",
        ItemExpression item => $"{Describe(item.Target)}[...]",
        CallExpression call => $"{Describe(call.Callee)}(...)",
        _ => "value",
    };
}
