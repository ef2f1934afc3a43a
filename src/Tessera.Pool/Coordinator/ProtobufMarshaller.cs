using Google.Protobuf;
using Grpc.Core;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// Reads and writes protobuf messages like the generated marshallers, except that bytes that are not a valid message
/// are answered InvalidArgument naming the message. The generated ones let the parse error escape, which gRPC answers
/// Unknown ("Exception was thrown by handler."): a client's malformed request would look like a coordinator fault.
/// </summary>
internal static class ProtobufMarshaller
{
    public static Marshaller<T> For<T>(MessageParser<T> parser)
        where T : IMessage<T> =>
        Marshallers.Create<T>(
            (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context =>
            {
                try
                {
                    return parser.ParseFrom(context.PayloadAsReadOnlySequence());
                }
                catch (InvalidProtocolBufferException ex)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"The {typeof(T).Name} message is malformed: {ex.Message}"));
                }
            });

    /// <summary>
    /// The method <paramref name="name"/> of <paramref name="service"/> as the generated code declares it, with marshallers from
    /// <see cref="For{T}"/>. Throws when the service has no such method, so a renamed rpc fails at startup.
    /// </summary>
    public static Method<TRequest, TResponse> Method<TRequest, TResponse>(Google.Protobuf.Reflection.ServiceDescriptor service, string name, MessageParser<TRequest> request,
        MessageParser<TResponse> response)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        var method = service.FindMethodByName(name) ?? throw new InvalidOperationException($"{service.FullName} has no method {name}.");
        var type = (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (true, false) => MethodType.ClientStreaming,
            (false, true) => MethodType.ServerStreaming,
            _ => MethodType.DuplexStreaming,
        };
        return new Method<TRequest, TResponse>(type, service.FullName, name, For(request), For(response));
    }
}
